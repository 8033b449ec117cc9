/**
 * `agni up --min-free`: with more free space asked for than the disk has, every route that writes
 * under $AGNI_HOME answers 507 before it reads its body, while reads and sync invokes still work.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { deployFiles } from './helpers/deploy.js';
import { layerTar } from './helpers/layer-tar.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let s: TestServer;
let jobId = '';

before(async () => {
  // A function and an open job first, then a restart that keeps 100 TiB free: more than any test disk has.
  const first = await startTestServer();
  await deployFiles(first.url, { 'agni.yaml': 'name: echo\nruntime: host\ncommand: cat\n' });
  const job = await fetch(`${first.url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ function: 'echo', concurrency: 1 }),
  });
  jobId = ((await job.json()) as { id: string }).id;
  await first.close();
  s = await startTestServer({ home: first.home, limits: { minFree: { bytes: 100 * 1024 ** 4 } } });
});
after(async () => {
  await s?.close();
});

const tgz = gzipSync(layerTar([{ path: 'agni.yaml', data: 'name: other\nruntime: host\ncommand: cat\n' }]));
const json = (body: object) => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const tar = { headers: { 'content-type': 'application/gzip' }, body: new Uint8Array(tgz) };

const WRITES: [string, RequestInit][] = [
  ['/v1/functions', tar],
  ['/v1/images/rootfs', tar],
  ['/v1/oci/pull', json({ ref: 'localhost:1/none:latest' })],
  ['/v1/oci/load', { headers: { 'content-type': 'application/x-tar' }, body: new Uint8Array(layerTar([])) }],
  ['/v1/oci/build', tar],
  ['/v1/functions/echo/async', { body: 'x' }],
  ['/v1/jobs', json({ function: 'echo', concurrency: 1 })],
];

for (const [path, init] of WRITES) {
  test(`POST ${path} is refused with 507 naming the free space, the threshold and --min-free`, async () => {
    const r = await fetch(`${s.url}${path}`, { method: 'POST', ...init });
    const body = (await r.json()) as {
      error: { code: string; message: string; details: Record<string, number> };
    };
    assert.equal(r.status, 507, JSON.stringify(body));
    assert.equal(body.error.code, 'insufficient_storage');
    assert.match(
      body.error.message,
      /refused: the server's disk has .* free, below the 100 TiB it keeps free \(agni up --min-free\)/,
    );
    assert.ok((body.error.details.free_bytes ?? 0) > 0);
  });
}

test('job inputs are refused with 507 too', async () => {
  const r = await fetch(`${s.url}/v1/jobs/${jobId}/inputs`, { method: 'POST', body: 'x' });
  assert.equal(r.status, 507);
});

test('nothing was written: no new function, image, payload or record', async () => {
  // The payloads directory is made by the first payload stored: none means none was.
  const payloads = join(s.home, 'async', 'payloads');
  assert.deepEqual(existsSync(payloads) ? readdirSync(payloads) : [], []);
  const fns = (await (await fetch(`${s.url}/v1/functions`)).json()) as { functions: { function: string }[] };
  assert.deepEqual(
    fns.functions.map((f) => f.function),
    ['echo'],
  );
});

test('reads and sync invokes still work', async () => {
  assert.equal((await fetch(`${s.url}/v1/functions/echo`)).status, 200);
  assert.equal((await fetch(`${s.url}/v1/invocations`)).status, 200);
  const r = await fetch(`${s.url}/v1/functions/echo/invoke`, { method: 'POST', body: 'still here' });
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'still here');
});
