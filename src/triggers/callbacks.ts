/**
 * Delivers async results to callback URLs: a JSON POST per settled invocation, retried with
 * exponential backoff until the receiver answers 2xx or the attempts run out. Delivery state is
 * in the store, so a restart resumes pending callbacks.
 */
import type { Logger } from 'pino';
import { type AddressAllowList, NOTHING_ALLOWED } from '../core/address-policy.js';
import { CALLBACK_BACKOFF, CALLBACK_MAX_ATTEMPTS, retryDelayMs } from '../core/retry.js';
import type { AsyncRepo, AsyncState } from '../store/async-sql.js';
import { readAll } from '../store/blob/blob-store.js';
import type { InvocationRecord, Store } from '../store/store.js';
import type { AsyncSubmitter } from './async-types.js';
import { DestinationRefused, guardedPost } from './guarded-post.js';

/** output larger than this is not inlined; the receiver fetches it from the result URL */
const MAX_INLINE_OUTPUT = 1024 * 1024;
const POST_TIMEOUT_MS = 10_000;
const MAX_SLEEP_MS = 30_000;
/** after the loop failed (the store unreachable), it tries again after this */
const LOOP_RETRY_MS = 1_000;
/** a claimed delivery is taken again after this if its sender died (the POST's timeout and some) */
const CLAIM_MS = POST_TIMEOUT_MS + 20_000;

export interface CallbackBody {
  id: string;
  function: string;
  version: number;
  /** the alias the call named, else null */
  alias: string | null;
  status: string;
  exit_code: number | null;
  error: string | null;
  attempts: number;
  dead_letter: boolean;
  /** stdout as UTF-8 text, when it is valid UTF-8 and small enough */
  output?: string;
  /** stdout in base64, when it is not valid UTF-8 */
  output_base64?: string;
  output_bytes: number;
  output_truncated: boolean;
  result_path: string;
}

export function callbackBody(
  rec: InvocationRecord,
  st: AsyncState,
  output: Buffer | undefined,
): CallbackBody {
  const body: CallbackBody = {
    id: rec.id,
    function: rec.function,
    version: rec.version,
    alias: rec.alias,
    status: rec.status,
    exit_code: rec.exitCode,
    error: rec.error,
    attempts: st.attempts,
    dead_letter: st.deadLetter,
    output_bytes: output?.length ?? 0,
    output_truncated: (output?.length ?? 0) > MAX_INLINE_OUTPUT,
    result_path: `/v1/invocations/${rec.id}/result`,
  };
  if (output && output.length <= MAX_INLINE_OUTPUT) {
    const text = output.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(output)) body.output = text;
    else body.output_base64 = output.toString('base64');
  }
  return body;
}

export class CallbackSender {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private closed = false;
  private current: Promise<void> | undefined;

  constructor(
    private readonly repo: AsyncRepo,
    private readonly store: Store,
    /** the settled invocation's stored stdout, sent in the callback's body */
    private readonly outputs: Pick<AsyncSubmitter, 'output'>,
    private readonly logger: Logger,
    /** private destinations the operator allows (`agni up --callback-allow`) */
    private readonly allow: AddressAllowList = NOTHING_ALLOWED,
  ) {}

  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.current = this.loop()
      .catch((e) => {
        this.logger.error({ err: e }, 'callbacks: delivery loop failed');
        // The store is away, say: look again soon, or due callbacks wait for the next settle.
        clearTimeout(this.timer);
        if (!this.closed) this.timer = setTimeout(() => this.kick(), LOOP_RETRY_MS);
      })
      .finally(() => {
        this.running = false;
      });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.current;
  }

  private async loop(): Promise<void> {
    clearTimeout(this.timer);
    do {
      this.again = false;
      const due = await this.repo.callbacksDue(Date.now(), 16);
      await Promise.all(due.map((st) => this.deliver(st)));
      if (due.length === 16) this.again = true;
    } while (this.again && !this.closed);
    if (this.closed) return;
    const next = await this.repo.nextCallbackAt();
    if (next !== null) {
      this.timer = setTimeout(() => this.kick(), Math.min(MAX_SLEEP_MS, Math.max(0, next - Date.now())));
    }
  }

  private async outputOf(id: string): Promise<Buffer | undefined> {
    try {
      const out = await this.outputs.output(id);
      return out ? await readAll(await out.open()) : undefined;
    } catch {
      return undefined;
    }
  }

  private async deliver(st: AsyncState): Promise<void> {
    // Every server's sender sees the same due rows: the one whose claim lands sends it.
    const seen = st.callbackNextAt;
    if (seen === null || !(await this.repo.claimCallback(st.id, seen, Date.now() + CLAIM_MS))) return;
    const rec = await this.store.getInvocation(st.id);
    if (!rec || !st.callbackUrl) {
      await this.repo.update(st.id, { callbackState: 'failed', callbackError: 'invocation record missing' });
      return;
    }
    const output = await this.outputOf(st.id);
    const attempt = st.callbackAttempts + 1;
    let error: string | undefined;
    let final = false;
    try {
      const status = await guardedPost(
        st.callbackUrl,
        JSON.stringify(callbackBody(rec, st, output)),
        { 'content-type': 'application/json', 'agni-invocation-id': rec.id },
        this.allow,
        POST_TIMEOUT_MS,
      );
      if (status < 200 || status > 299) error = `the receiver answered ${status}`;
    } catch (e) {
      // A refused destination stays refused: no retries, and the reason is kept in the state.
      final = e instanceof DestinationRefused;
      error = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    }
    if (error === undefined) {
      await this.repo.update(st.id, {
        callbackState: 'delivered',
        callbackAttempts: attempt,
        callbackNextAt: null,
        callbackError: null,
      });
      return;
    }
    const giveUp = final || attempt >= CALLBACK_MAX_ATTEMPTS;
    // The URL is the user's and may carry a token in its query: log the host only.
    this.logger.warn(
      { invocation: rec.id, host: safeHost(st.callbackUrl), attempt, error },
      giveUp ? 'callback failed for good' : 'callback failed; will retry',
    );
    await this.repo.update(st.id, {
      callbackState: giveUp ? 'failed' : 'pending',
      callbackAttempts: attempt,
      callbackNextAt: giveUp ? null : Date.now() + retryDelayMs(attempt, CALLBACK_BACKOFF),
      callbackError: error,
    });
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid url)';
  }
}
