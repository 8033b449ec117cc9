/**
 * A body refused midway (over the payload limit) is read to its end before the connection closes,
 * so a client still sending gets the answer that says why, not a reset. `agni map` with a file over
 * the limit once printed "lost the connection ... [EPIPE]" in CI instead of the limit's message.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from './helpers/server.js';

let s: TestServer;
const LIMIT = 64 * 1024;

before(async () => {
  s = await startTestServer({ maxPayloadBytes: LIMIT });
});
after(() => s.close());

for (const [api, path] of [
  ['the API', '/v1/functions/anything/invoke'],
  ["Lambda's API", '/2015-03-31/functions/anything/invocations'],
] as const)
  test(`${api}: a client still sending after its body was refused sends it whole, then reads the 413`, async () => {
    const { hostname, port } = new URL(s.url);
    const sock = connect(Number(port), hostname);
    await new Promise((r) => sock.once('connect', r));
    let answer = '';
    const errors: string[] = [];
    sock.on('data', (d) => {
      answer += d.toString('latin1');
    });
    sock.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
    const closed = new Promise((r) => sock.once('close', r));
    // As `agni map` or curl send a file: on and on, not waiting for an answer. The server refuses it
    // after LIMIT bytes, while 500 times as much is still to come.
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const chunks = 32;
    sock.write(
      `POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${chunks * chunk.length}\r\n\r\n`,
    );
    let sent = 0;
    for (let i = 0; i < chunks && errors.length === 0; i++) {
      const e = await new Promise<Error | null | undefined>((r) => sock.write(chunk, r));
      if (e) break;
      sent++;
    }
    await closed;
    assert.deepEqual(errors, [], `no reset (${sent} of ${chunks} MiB sent)`);
    assert.equal(sent, chunks, 'the whole body was taken');
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /larger than the limit of 65536 bytes/);
    if (path.startsWith('/2015')) assert.match(answer, /x-amzn-errortype: RequestTooLargeException/i);
  });
