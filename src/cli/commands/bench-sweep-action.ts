/**
 * What `agni bench sweep` does, imported only when it runs (lazy-action.ts); its arguments, options
 * and help are in bench-sweep.ts.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parseLevels } from '../../bench/load-report.js';
import { SWEEP_BASELINES, SWEEP_MODES, type SweepBaseline, type SweepMode } from '../../bench/sweep-modes.js';
import { sweepMarkdown } from '../../bench/sweep-report.js';
import { svgFileName, sweepSvg } from '../../bench/sweep-svg.js';
import { AgniError } from '../../core/errors.js';
import { parseVolumeFlags } from '../../core/volumes.js';
import { ApiClient } from '../client.js';
import { choiceList, intOption } from '../option-parsers.js';
import { printJson } from '../output.js';
import { stderrBar } from '../progress-bar.js';

interface SweepFlags {
  concurrency: string;
  replicates: string;
  modes: string;
  baseline: string;
  payload?: string;
  payloadFile?: string;
  csv?: string;
  json?: string | boolean;
  svgDir?: string;
  md?: string;
  resume?: boolean;
  volume?: string[];
  rootfs?: string;
  publish?: boolean;
}

export async function sweep(dir: string, o: SweepFlags): Promise<void> {
  const levels = parseLevels(o.concurrency);
  if (typeof levels === 'string')
    throw new AgniError(
      'bad_request',
      `--concurrency: expected ${levels}, got ${JSON.stringify(o.concurrency)}`,
    );
  const n = intOption('--replicates', o.replicates, 1);
  if (n > 100_000) throw new AgniError('bad_request', `--replicates: at most 100000, got ${n}`);
  const modes = choiceList('--modes', o.modes, SWEEP_MODES) as SweepMode[];
  const baselines = choiceList('--baseline', o.baseline, SWEEP_BASELINES, true) as SweepBaseline[];
  if (o.payload !== undefined && o.payloadFile !== undefined)
    throw new AgniError('bad_request', '--payload and --payload-file: pass one of them');
  const payload =
    o.payloadFile !== undefined
      ? await readFile(o.payloadFile).catch((e: Error) => {
          throw new AgniError('bad_request', `--payload-file ${o.payloadFile}: ${e.message}`);
        })
      : Buffer.from(o.payload ?? '');
  const volumes = parseVolumeFlags(o.volume ?? []);
  const fnDir = resolve(dir);
  const csvPath = resolve(o.csv ?? `agni-sweep-${basename(fnDir)}.csv`);
  const client = o.publish ? new ApiClient() : undefined;
  const quiet = o.json === true || !process.stderr.isTTY;
  const bar = quiet
    ? undefined
    : stderrBar('sweep {bar} {value}/{total} replicates | {label} | ETA {eta_formatted}');
  // Loaded on use: it pulls in the whole embedded server, which other verbs never need.
  const { runSweep } = await import('../../bench/sweep.js');
  let started = false;
  const stopBar = () => bar?.stop();
  // Ctrl-C ends the batch in flight and closes the scratch instances (no sandbox left behind).
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const result = await runSweep({
    dir: fnDir,
    levels,
    n,
    modes,
    baselines,
    payload,
    csvPath,
    resume: o.resume === true,
    volumes,
    rootfs: o.rootfs,
    signal: stop.signal,
    onProgress: (done, total, label) => {
      if (!bar) return;
      if (!started) {
        started = true;
        bar.start(total, done, { label: 'starting' });
      } else bar.update(done, { label });
    },
  }).finally(() => {
    stopBar();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
  const s = result.summary;
  if (result.interrupted) {
    process.stderr.write(
      `interrupted: ${result.rows.length} replicates in ${csvPath}; continue with --resume --csv ${csvPath}\n`,
    );
    process.exitCode = 130;
    return;
  }
  if (result.resumed > 0 && !quiet)
    process.stderr.write(`resumed: ${result.resumed} replicates from ${csvPath}\n`);
  if (o.svgDir) {
    await mkdir(o.svgDir, { recursive: true });
    for (const m of s.metrics) await writeFile(join(o.svgDir, svgFileName(m)), sweepSvg(s, m));
  }
  if (o.md) await writeFile(o.md, sweepMarkdown(s));
  if (typeof o.json === 'string') await writeFile(o.json, `${JSON.stringify(s, null, 2)}\n`);
  if (client) {
    const r = await client.json<{ id: string }>('POST', '/v1/bench/sweeps', s);
    if (o.json !== true) process.stderr.write(`published: ${r.id} (dashboard: ${client.url}/ui/bench)\n`);
  }
  if (o.json === true) return printJson(s);
  process.stdout.write(`${sweepMarkdown(s)}\n`);
  process.stderr.write(
    `csv: ${csvPath}${o.svgDir ? `\ncharts: ${o.svgDir}` : ''}${o.md ? `\nreport: ${o.md}` : ''}\n`,
  );
}
