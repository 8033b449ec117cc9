/** The progress bar of `agni map` on stderr: done, failed, rate and ETA. Silent when disabled. */
import type cliProgress from 'cli-progress';
import { formatEta, formatRate } from '../triggers/jobs-progress.js';
import { stderrBar } from './progress-bar.js';

export interface ProgressFigures {
  done: number;
  failed: number;
  rate: number | null;
  etaMs: number | null;
}

export class MapProgress {
  private bar: cliProgress.SingleBar | undefined;
  private label = '';
  private total = 0;
  private last: ProgressFigures = { done: 0, failed: 0, rate: null, etaMs: null };

  /** only when stderr is a terminal and the output is not JSON */
  constructor(private readonly enabled: boolean) {}

  start(label: string, total: number): void {
    if (!this.enabled) return;
    this.stop();
    this.label = label;
    this.total = total;
    this.last = { done: 0, failed: 0, rate: null, etaMs: null };
    this.open();
  }

  private open(): void {
    this.bar = stderrBar(
      `${this.label.padEnd(9)} {bar} {value}/{total} | failed {failed} | {rateText} | ETA {etaText}`,
    );
    this.bar.start(this.total, this.last.done, this.payload(this.last));
  }

  private payload(f: ProgressFigures): object {
    return { failed: f.failed, rateText: formatRate(f.rate), etaText: formatEta(f.etaMs) };
  }

  update(f: ProgressFigures): void {
    this.last = f;
    this.bar?.update(f.done, this.payload(f));
  }

  /**
   * Before writing to a stdout on the same terminal: the bar redraws at the cursor position it
   * saved, so it steps aside (its line cleared) and `resume` draws it again below the output.
   */
  suspend(): void {
    if (!this.bar || !process.stdout.isTTY) return;
    this.bar.stop();
    this.bar = undefined;
  }

  resume(): void {
    if (this.enabled && !this.bar && this.label) this.open();
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.label = '';
  }
}
