/**
 * One NATS message for a subject trigger: its data is the payload of a sync invocation; the
 * result (stdout, with the outcome in headers) answers a request's reply inbox and, when the
 * trigger has `reply:`, is published there too.
 */
import { headers, type Msg, type MsgHdrs, type NatsConnection } from 'nats';
import { describeFailure, type InvokeOutcome, type InvokeSink } from '../app/invoker.js';
import { AgniError, isAgniError } from '../core/errors.js';
import type { SubjectTrigger } from '../core/trigger-spec.js';

/** NATS headers are single lines of text */
function line(s: string): string {
  return s.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 1000);
}

function failed(h: MsgHdrs, e: AgniError): void {
  h.set('Agni-Error-Code', e.code);
  h.set('Agni-Error', line(e.message));
  // The NATS services convention, so generic NATS tools see a failed request as one.
  h.set('Nats-Service-Error-Code', String(e.status));
  h.set('Nats-Service-Error', line(e.message));
}

export async function replyFor(
  msg: Msg,
  nc: NatsConnection,
  t: SubjectTrigger,
  run: (payload: Buffer, sink: InvokeSink) => Promise<InvokeOutcome>,
): Promise<void> {
  const max = nc.info?.max_payload ?? 1024 * 1024;
  const chunks: Buffer[] = [];
  let size = 0;
  const h = headers();
  let data: Uint8Array = new Uint8Array(0);
  try {
    const out = await run(Buffer.from(msg.data), {
      onStdout(chunk) {
        size += chunk.length;
        if (size <= max) chunks.push(chunk);
      },
    });
    const r = out.record;
    h.set('Agni-Invocation-Id', r.id);
    h.set('Agni-Function', r.function);
    h.set('Agni-Status', r.status);
    h.set('Agni-Exit-Code', r.exitCode === null ? '' : String(r.exitCode));
    const failure = describeFailure(
      r,
      out.version.manifest.limits.timeoutMs,
      out.version.manifest.limits.memoryBytes,
    );
    if (failure) failed(h, failure);
    if (size > max) {
      failed(
        h,
        new AgniError(
          'payload_too_large',
          `the output (${size} bytes) is larger than the NATS server's max_payload (${max} bytes); see agni inspect ${r.id}`,
        ),
      );
    } else data = Buffer.concat(chunks);
  } catch (e) {
    h.set('Agni-Status', 'error');
    failed(h, isAgniError(e) ? e : new AgniError('internal', (e as Error).message));
  }
  if (msg.reply) msg.respond(data, { headers: h });
  if (t.reply) nc.publish(t.reply, data, { headers: h });
}
