/**
 * What `agni result` and `agni failed` do, and how `agni invoke --async` submits; imported only when
 * one of them runs (lazy-action.ts). Their arguments, options and help are in async.ts and invoke.ts.
 */
import { AgniError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { ApiClient, errorFromBody, readAll } from '../client.js';
import { failedOutcome } from '../outcome.js';
import { ago, printJson, printTable } from '../output.js';

interface SubmitOptions {
  idempotencyKey?: string;
  callback?: string;
  json?: boolean;
}

export async function submitAsync(
  name: string,
  payload: Buffer,
  o: SubmitOptions,
  extra: Record<string, string> = {},
): Promise<void> {
  const headers: Record<string, string> = { ...extra };
  if (o.idempotencyKey) headers['idempotency-key'] = o.idempotencyKey;
  if (o.callback) headers['agni-callback-url'] = o.callback;
  const res = await new ApiClient().request(
    'POST',
    `/v1/functions/${encodeURIComponent(name)}/async`,
    payload,
    'application/octet-stream',
    headers,
  );
  const text = await readAll(res.body);
  if (res.status !== 202) throw errorFromBody(res.status, text);
  const sub = JSON.parse(text) as { id: string; duplicate: boolean };
  if (o.json) printJson(sub);
  else {
    process.stdout.write(`${sub.id}\n`);
    if (sub.duplicate) process.stderr.write('(already submitted with this idempotency key)\n');
  }
}

interface ResultOptions {
  wait?: boolean;
  timeout: string;
  json?: boolean;
}

interface Pending {
  id: string;
  status: string;
  attempts: number;
  max_attempts: number;
  next_attempt_at: number | null;
  last_error: string | null;
}

/** one server-side wait is capped (see MAX_WAIT_S); longer waits are several requests */
const WAIT_STEP_S = 60;

async function fetchResult(client: ApiClient, id: string, o: ResultOptions) {
  const limitMs = parseDuration(o.timeout);
  if (typeof limitMs === 'string') throw new AgniError('bad_request', `--timeout ${o.timeout}: ${limitMs}`);
  const deadline = Date.now() + limitMs;
  for (;;) {
    const left = Math.max(0, deadline - Date.now());
    const wait = o.wait ? Math.min(WAIT_STEP_S, Math.ceil(left / 1000)) : 0;
    const res = await client.request(
      'GET',
      `/v1/invocations/${encodeURIComponent(id)}/result?wait=${wait}`,
      Buffer.alloc(0),
      'application/octet-stream',
    );
    if (res.status === 200) return res;
    const text = await readAll(res.body);
    if (res.status !== 202) throw errorFromBody(res.status, text);
    if (!o.wait || Date.now() >= deadline) return { pending: JSON.parse(text) as Pending };
  }
}

export async function result(id: string, o: ResultOptions): Promise<void> {
  const client = new ApiClient();
  const r = await fetchResult(client, id, o);
  if ('pending' in r) {
    const p = r.pending;
    const next = p.next_attempt_at
      ? `; next attempt in ${Math.max(0, p.next_attempt_at - Date.now())} ms`
      : '';
    if (o.json) printJson(p);
    throw new AgniError(
      'not_finished',
      `${id} has not finished: ${p.status}, attempt ${p.attempts} of ${p.max_attempts}${next}`,
      {
        hint: `wait for it with \`agni result ${id} --wait\``,
      },
    );
  }
  const status = String(r.headers['agni-status']);
  const exit = Number(r.headers['agni-exit-code'] || Number.NaN);
  const kept = r.headers['agni-output-truncated'];
  const produced = Number(r.headers['agni-output-bytes']);
  if (kept !== undefined)
    process.stderr.write(
      `agni: output truncated: the server kept the first ${kept} of ${produced} bytes (agni up --max-output)\n`,
    );
  if (o.json) {
    const output = await readAll(r.body);
    printJson({
      id,
      status,
      exit_code: Number.isNaN(exit) ? null : exit,
      attempts: Number(r.headers['agni-attempts']),
      dead_letter: r.headers['agni-dead-letter'] === 'true',
      ...(kept === undefined ? {} : { output_truncated: true, output_bytes: produced }),
      output,
    });
  } else {
    for await (const chunk of r.body) {
      if (!process.stdout.write(chunk as Buffer))
        await new Promise((res) => process.stdout.once('drain', res));
    }
  }
  if (status !== 'succeeded') {
    const err = r.headers['agni-error'] ? `: ${decodeURIComponent(String(r.headers['agni-error']))}` : '';
    const ctx = ` after ${r.headers['agni-attempts']} attempt(s)${err}`;
    throw await failedOutcome(client, id, status, exit, id, ctx);
  }
}

export async function failed(
  fn: string | undefined,
  o: { retry?: string[]; limit: string; json?: boolean },
): Promise<void> {
  const client = new ApiClient();
  if (o.retry) {
    for (const id of o.retry) {
      await client.json('POST', `/v1/failed/${encodeURIComponent(id)}/retry`);
      process.stderr.write(`${id}: queued again\n`);
    }
    return;
  }
  const q = new URLSearchParams({ limit: o.limit, ...(fn ? { function: fn } : {}) });
  const { failed } = await client.json<{
    failed: {
      id: string;
      function: string;
      status: string;
      exitCode: number | null;
      attempts: number;
      source: string;
      settledAt: number | null;
      error: string | null;
      stderrTail: string;
    }[];
  }>('GET', `/v1/failed?${q}`);
  if (o.json) return printJson(failed);
  printTable(
    ['ID', 'FUNCTION', 'STATUS', 'EXIT', 'ATTEMPTS', 'SOURCE', 'FAILED', 'LAST STDERR'],
    failed.map((f) => [
      f.id,
      f.function,
      f.status,
      f.exitCode ?? '-',
      f.attempts,
      f.source,
      f.settledAt ? ago(f.settledAt) : '-',
      (f.stderrTail.trim().split('\n').pop() ?? '').slice(0, 60) || (f.error ?? '').slice(0, 60),
    ]),
  );
}
