/**
 * Server errors at deploy and removal, as 4xx: a tar whose symlink is followed by a file of the
 * same name, `agni rm` while a call waits for a slot; no staging dir or host path is left behind,
 * and a restart sweeps what an earlier process left.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { deployFiles } from './helpers/deploy.js';
import { type LayerEntry, layerTar } from './helpers/layer-tar.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let s: TestServer;

type ErrorBody = { error: { code: string; message: string } };

async function upload(path: string, entries: LayerEntry[]) {
  const r = await fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: new Uint8Array(gzipSync(layerTar(entries))),
  });
  const text = await r.text();
  return { status: r.status, text, error: (JSON.parse(text) as ErrorBody).error };
}

const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

describe('deploy and import errors', () => {
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s?.close();
  });

  const yaml: LayerEntry = { path: 'agni.yaml', data: 'name: sym\nruntime: host\ncommand: "cat x"\n' };

  test('a deploy tar writing through its own symlink: 400 naming the entry, no staging dir', async () => {
    const r = await upload('/v1/functions', [
      yaml,
      { path: 'x', type: 'SymbolicLink', linkpath: '/etc' },
      { path: 'x/passwd', data: 'hello' },
    ]);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.error.code, 'bad_request');
    assert.match(
      r.error.message,
      /^the uploaded function: entry "x\/passwd" would be written through symlink "x" \(→ \/etc\)/,
    );
    assert.ok(!r.text.includes(s.home), 'no host path in the answer');
    // node-tar may finish its write after the error: the removal retries until the dir stays gone.
    assert.deepEqual(list(join(s.home, 'functions', '.staging')), []);
  });

  test('an imported rootfs with a link then a hard link of the same name: 400, no host path, no image dir', async () => {
    const r = await upload('/v1/images/twice', [
      { path: 'bin/' },
      { path: 'bin/sh', data: 'x', mode: 0o755 },
      { path: 'x', type: 'SymbolicLink', linkpath: 'bin/sh' },
      { path: 'x', type: 'Link', linkpath: 'missing' },
    ]);
    assert.equal(r.status, 400, r.text);
    assert.match(r.error.message, /^image twice: could not unpack the upload: entry "x"/);
    assert.ok(!r.text.includes(s.home), `no host path in the answer: ${r.text}`);
    assert.deepEqual(list(join(s.home, 'images')), []);
  });
});

describe('agni rm while a call of the function waits', () => {
  before(async () => {
    s = await startTestServer({ slots: 1 });
  });
  after(async () => {
    await s?.close();
  });

  test('the waiting call gets 404 function_not_found; the running one finishes; then the code goes', async () => {
    await deployFiles(s.url, {
      'agni.yaml': 'name: nap\nruntime: host\ncommand: "sleep 1; cat run.sh"\npool: {max: 0}\n',
      'run.sh': 'still here\n',
    });
    const invoke = () => fetch(`${s.url}/v1/functions/nap/invoke`, { method: 'POST', body: '' });
    const running = invoke();
    await new Promise((r) => setTimeout(r, 200));
    const waiting = invoke();
    await new Promise((r) => setTimeout(r, 200));
    const rm = await fetch(`${s.url}/v1/functions/nap`, { method: 'DELETE' });
    assert.equal(rm.status, 200, await rm.clone().text());
    const w = await waiting;
    const wText = await w.text();
    assert.equal(w.status, 404, wText);
    const e = (JSON.parse(wText) as ErrorBody).error;
    assert.equal(e.code, 'function_not_found');
    assert.match(e.message, /^nap was removed while this call waited for a slot$/);
    assert.ok(!wText.includes(s.home), 'no host path in the answer');
    const r = await running;
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'still here\n', 'the running call finished on its code');
    for (let i = 0; i < 50 && existsSync(join(s.home, 'functions', 'nap')); i++)
      await new Promise((res) => setTimeout(res, 100));
    assert.equal(existsSync(join(s.home, 'functions', 'nap')), false, 'its code is removed once it ended');
    assert.equal((await invoke()).status, 404);
  });
});

test('a restart removes staging dirs and orphaned code dirs an earlier process left', async () => {
  const first = await startTestServer();
  await deployFiles(first.url, { 'agni.yaml': 'name: keep\nruntime: host\ncommand: cat\n' });
  await first.close();
  const h = first.home;
  for (const d of [
    join(h, 'functions', '.staging', 'dep-old', 'sub'),
    join(h, 'functions', 'gone', 'v-old'),
    join(h, 'build', 'bld-old', 'fn'),
  ]) {
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'file'), 'left over');
  }
  s = await startTestServer({ home: h });
  try {
    assert.deepEqual(list(join(h, 'functions', '.staging')), []);
    assert.deepEqual(list(join(h, 'build')), []);
    assert.deepEqual(
      list(join(h, 'functions')).filter((d) => d !== '.staging'),
      ['keep'],
    );
    const r = await fetch(`${s.url}/v1/functions/keep/invoke`, { method: 'POST', body: 'ok' });
    assert.equal(await r.text(), 'ok', 'what a stored version points to stays');
  } finally {
    await s.close();
  }
});
