/**
 * `agni logs -f [NAME]`: follows GET /v1/invocations/stream (server-sent events) and prints one
 * line per invocation event as it happens, until interrupted or the server ends the stream.
 */
import type { InvocationEvent } from '../core/invocation-events.js';
import { formatMs } from '../core/units.js';
import { type ApiClient, errorFromBody } from './client.js';

/** Splits an SSE byte stream into events' data fields (comments and unknown fields skipped). */
export class SseParser {
  private buffer = '';

  push(text: string): string[] {
    this.buffer += text.replace(/\r\n?/g, '\n');
    const out: string[] = [];
    for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
      const frame = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = frame
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''));
      if (data.length > 0) out.push(data.join('\n'));
    }
    return out;
  }
}

export function eventLine(e: InvocationEvent): string {
  const time = new Date(e.at).toISOString().slice(11, 23);
  const target = `${e.function}@${e.version}${e.alias ? ` (${e.alias})` : ''}`;
  const parts = [time, e.type.padEnd(8), e.id, target, e.node || '-', e.status];
  if (e.type === 'finished') {
    parts.push(e.mode ?? 'none');
    if (e.durationMs !== undefined) parts.push(formatMs(e.durationMs));
    if (e.exitCode !== undefined && e.exitCode !== null) parts.push(`exit ${e.exitCode}`);
  }
  return parts.join('  ');
}

export async function followLogs(
  client: ApiClient,
  name: string | undefined,
  json: boolean,
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const query = name ? `?function=${encodeURIComponent(name)}` : '';
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let res: Response;
    try {
      res = await fetch(`${client.url}/v1/invocations/stream${query}`, {
        headers: { ...client.authHeaders(), accept: 'text/event-stream' },
        signal: stop.signal,
      });
    } catch (e) {
      if (stop.signal.aborted) return;
      throw client.netError(e);
    }
    if (!res.ok || !res.body) throw errorFromBody(res.status, await res.text());
    const parser = new SseParser();
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        for (const data of parser.push(decoder.decode(chunk as Uint8Array, { stream: true }))) {
          const e = JSON.parse(data) as InvocationEvent;
          out.write(`${json ? JSON.stringify(e) : eventLine(e)}\n`);
        }
      }
    } catch (e) {
      if (stop.signal.aborted) return;
      throw client.netError(e);
    }
    if (!stop.signal.aborted) process.stderr.write('agni: the server ended the stream\n');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
