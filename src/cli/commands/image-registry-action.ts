/**
 * What `agni image pull/push` and `agni login/logout` do, and the push of `agni build --push`;
 * imported only when one of them runs (lazy-action.ts). Their arguments, options and help are in
 * image-registry.ts.
 */
import { createInterface } from 'node:readline';
import cliProgress from 'cli-progress';
import { AgniError, ERROR_STATUS, type ErrorCode } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import type { OciImageRecord } from '../../store/oci-image-repo.js';
import { ApiClient, errorFromBody, readAll } from '../client.js';
import { printJson } from '../output.js';

type Event = { type: string; [k: string]: unknown };

/** Reads the route's NDJSON; shows bars on a TTY; returns the `done` result or throws its error. */
async function streamed<T>(path: string, body: object, json: boolean): Promise<T> {
  const client = new ApiClient();
  const res = await client.request('POST', path, Buffer.from(JSON.stringify(body)), 'application/json');
  if (res.status >= 300) throw errorFromBody(res.status, await readAll(res.body));
  // Bars draw on stderr, but only when a person watches: not for --json, nor when stdout is piped.
  const tty = process.stderr.isTTY && process.stdout.isTTY && !json;
  const multi = tty
    ? new cliProgress.MultiBar(
        {
          format: ' {name} [{bar}] {percentage}% {done}/{size} {speed}',
          hideCursor: true,
          // name, sizes and speed must fit 80 columns, or the terminal cuts the speed off
          barsize: 24,
          clearOnComplete: false,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const bars = new Map<string, cliProgress.SingleBar>();
  let result: T | undefined;
  try {
    for await (const line of createInterface({ input: res.body, crlfDelay: Number.POSITIVE_INFINITY })) {
      if (!line.trim()) continue;
      const e = JSON.parse(line) as Event;
      if (e.type === 'done') result = e.result as T;
      else if (e.type === 'error') {
        const err = e.error as {
          code: string;
          message: string;
          hint?: string;
          details?: Record<string, unknown>;
        };
        throw new AgniError(err.code in ERROR_STATUS ? (err.code as ErrorCode) : 'internal', err.message, {
          hint: err.hint,
          details: err.details,
        });
      } else if (multi && (e.type === 'blob' || e.type === 'blob-done')) {
        const digest = String(e.digest);
        const total = Number(e.total ?? 0);
        let bar = bars.get(digest);
        if (!bar && e.type === 'blob') {
          bar = multi.create(total, 0, { name: `${String(e.kind)} ${digest.slice(7, 19)}` });
          bars.set(digest, bar);
        }
        if (bar && e.type === 'blob') {
          bar.update(Number(e.done), {
            done: formatBytes(Number(e.done)),
            size: formatBytes(total),
            speed: `${formatBytes(Number(e.bytesPerSec))}/s`,
          });
        } else if (bar) bar.update(bar.getTotal());
      } else if (multi && e.type === 'resolved') {
        multi.log(
          `${String(e.reference)}: ${String(e.platform)}, ${String(e.layers)} layer(s), ${formatBytes(Number(e.totalBytes))}\n`,
        );
        multi.update(); // a log line shows at the next redraw, which a quick pull may never have
      }
    }
  } finally {
    multi?.stop();
  }
  if (result === undefined) throw new AgniError('internal', 'the server ended the stream without a result');
  return result;
}

export interface PushOutcome {
  reference: string;
  digest: string;
  blobsPushed: number;
  blobsSkipped: number;
  bytesPushed: number;
}

/** Pushes a stored image (pulled or built) through the server; progress on a TTY unless `json`. */
export function pushStored(
  name: string,
  ref: string,
  o: { insecure?: boolean; json?: boolean },
): Promise<PushOutcome> {
  return streamed<PushOutcome>('/v1/oci/push', { name, ref, insecure: o.insecure }, !!o.json);
}

export function printPushed(r: PushOutcome): void {
  process.stdout.write(
    `pushed ${r.reference} (${r.digest}): ${r.blobsPushed} blob(s), ${formatBytes(r.bytesPushed)}; ${r.blobsSkipped} already there\n`,
  );
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export async function pull(
  ref: string,
  o: { platform?: string; insecure?: boolean; json?: boolean },
): Promise<void> {
  const img = await streamed<OciImageRecord>(
    '/v1/oci/pull',
    { ref, platform: o.platform, insecure: o.insecure },
    !!o.json,
  );
  if (o.json) printJson(img);
  else
    process.stdout.write(
      `pulled ${img.name} (${img.manifestDigest}) ${img.platform}, ${formatBytes(img.sizeBytes)}\n`,
    );
}

export async function push(
  name: string,
  ref: string,
  o: { insecure?: boolean; json?: boolean },
): Promise<void> {
  const r = await pushStored(name, ref, o);
  if (o.json) printJson(r);
  else printPushed(r);
}

export async function login(
  registry: string,
  o: {
    username?: string;
    password?: string;
    passwordStdin?: boolean;
    insecure?: boolean;
    json?: boolean;
  },
): Promise<void> {
  if (!o.username)
    throw new AgniError('bad_request', 'login needs --username', {
      hint: 'agni login REGISTRY -u USER --password-stdin',
    });
  if (o.password && o.passwordStdin)
    throw new AgniError('bad_request', 'give either --password or --password-stdin, not both');
  const password = o.passwordStdin ? await readStdin() : o.password;
  if (!password) throw new AgniError('bad_request', 'login needs a password: --password-stdin or -p');
  const r = await new ApiClient().json<{ registry: string; username: string }>(
    'POST',
    '/v1/registries/login',
    {
      registry,
      username: o.username,
      password,
      insecure: o.insecure,
    },
  );
  if (o.json) printJson(r);
  else process.stdout.write(`logged in to ${r.registry} as ${r.username}\n`);
}

export async function logout(registry: string): Promise<void> {
  const r = await new ApiClient().json<{ removed: boolean }>('POST', '/v1/registries/logout', {
    registry,
  });
  process.stdout.write(
    r.removed ? `logged out of ${registry}\n` : `no credentials were kept for ${registry}\n`,
  );
}
