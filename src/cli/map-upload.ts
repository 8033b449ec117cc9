/**
 * Sends the inputs of `agni map` to a job: one request per file, stdin lines in batches. After the
 * first, `started` runs (the CLI starts the job with more inputs to come), so the first inputs run
 * while later ones still upload.
 */
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AgniError } from '../core/errors.js';
import { type ApiClient, errorFromBody, readAll } from './client.js';
import type { FileInput } from './map-inputs.js';
import type { MapProgress } from './map-progress.js';

/** lines go in requests of about this size (well under the default payload limit) */
const LINE_BATCH_BYTES = 1024 * 1024;

async function post(
  client: ApiClient,
  jobId: string,
  body: Buffer | Readable,
  headers: Record<string, string>,
  what: string,
): Promise<{ first: number; count: number }> {
  const res = await client.request(
    'POST',
    `/v1/jobs/${encodeURIComponent(jobId)}/inputs`,
    body,
    'application/octet-stream',
    headers,
  );
  const text = await readAll(res.body);
  if (res.status >= 300) {
    const e = errorFromBody(res.status, text);
    // Name the input the user knows, not the request.
    throw new AgniError(e.code, `${what}: ${e.message}`, { hint: e.hint, details: e.details });
  }
  return JSON.parse(text) as { first: number; count: number };
}

export async function uploadFiles(
  client: ApiClient,
  jobId: string,
  files: FileInput[],
  progress: MapProgress,
  started: () => Promise<void> = async () => {},
): Promise<number> {
  progress.start('uploading', files.length);
  // One at a time: the server numbers inputs in arrival order, which is input order.
  for (const [i, f] of files.entries()) {
    // Opened first, so an unreadable file fails here by name instead of midway through a request.
    const fh = await open(f.path, 'r').catch((e: NodeJS.ErrnoException) => {
      throw new AgniError('bad_request', `input ${f.path}: cannot read it (${e.code ?? e.message})`);
    });
    await post(
      client,
      jobId,
      fh.createReadStream(),
      { 'agni-input-name': encodeURIComponent(f.name) },
      `input ${f.path}`,
    );
    if (i === 0) await started();
    progress.update({ done: i + 1, failed: 0, rate: null, etaMs: null });
  }
  progress.stop();
  return files.length;
}

/** `input` cut into batches of whole lines (a last line without a newline gets one) */
export async function* lineBatches(input: Readable): AsyncGenerator<Buffer> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of input) {
    pending = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
    if (pending.length < LINE_BATCH_BYTES) continue;
    const cut = pending.lastIndexOf(0x0a);
    if (cut === -1) continue;
    yield pending.subarray(0, cut + 1);
    pending = pending.subarray(cut + 1);
  }
  if (pending.length)
    yield pending[pending.length - 1] === 0x0a ? pending : Buffer.concat([pending, Buffer.from('\n')]);
}

export function hasContent(batch: Buffer): boolean {
  return batch.some((b) => b !== 0x0a && b !== 0x0d);
}

/** Every non-blank line of the batches becomes one input; returns how many. */
export async function uploadLines(
  client: ApiClient,
  jobId: string,
  batches: AsyncIterable<Buffer>,
  started: () => Promise<void> = async () => {},
): Promise<number> {
  let count = 0;
  let lineNo = 1;
  for await (const batch of batches) {
    const firstLine = lineNo;
    for (const b of batch) if (b === 0x0a) lineNo++;
    if (!hasContent(batch)) continue;
    const what = `stdin lines ${firstLine}-${lineNo - 1}`;
    const first = count === 0;
    count += (await post(client, jobId, batch, { 'agni-input-split': 'lines' }, what)).count;
    if (first) await started();
  }
  return count;
}
