/** `agni nodes` and `agni node drain|resume` against a real `agni up`: its one node, over HTTP and the CLI. */
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from './helpers/agni-up.js';
import { deployDir } from './helpers/deploy.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let s: TestServer;
before(async () => {
  s = await startTestServer({ backend: 'process', slots: 3 });
});
after(async () => {
  await s?.close();
});

interface Node {
  name: string;
  state: string;
  platforms: string[];
  backends: string[];
  slots: number;
  free: number;
  warm: string[];
  lastHeartbeatMs: number;
}

test('GET /v1/nodes lists the one local node; a warm version shows once it holds a worker', async () => {
  await deployDir(s.url, resolve('examples/warm-shell'));
  const r = await fetch(`${s.url}/v1/functions/warm-shell/invoke`, { method: 'POST', body: 'x' });
  assert.equal(r.status, 200, await r.text());
  const { stdout, code } = await runCli(s.url, ['nodes', '--json']);
  assert.equal(code, 0);
  const nodes = JSON.parse(stdout) as Node[];
  assert.equal(nodes.length, 1);
  const n = nodes[0]!;
  assert.equal(n.state, 'ready');
  assert.deepEqual(n.backends, ['process']);
  assert.equal(n.slots, 3);
  assert.equal(n.free, 3);
  assert.ok(n.platforms.length >= 1 && /^linux\//.test(n.platforms[0]!));
  assert.deepEqual(n.warm, ['warm-shell@1']);
  const table = await runCli(s.url, ['nodes']);
  assert.equal(table.code, 0);
  assert.match(
    table.stdout,
    /^NAME +STATE +PLATFORMS +BACKENDS +SLOTS USED\/FREE +MEMORY +WARM +HEARTBEAT\n/,
  );
  assert.ok(
    table.stdout.includes(`${n.name} `) &&
      /ready +linux\/\S+ +process +0\/3 +\S+ \S+ +warm-shell@1 +0\.0s ago/.test(table.stdout),
    table.stdout,
  );
});

test("drain of agni up's own node is refused; an unknown node is named; a form post is refused", async () => {
  const { name } = (JSON.parse((await runCli(s.url, ['nodes', '--json'])).stdout) as Node[])[0]!;
  const own = await runCli(s.url, ['node', 'drain', name]);
  assert.equal(own.code, 65, own.stderr);
  assert.match(own.stderr, /error: node \S+ is this server's own \(agni up\): it cannot drain/);
  const unknown = await runCli(s.url, ['node', 'resume', 'nope']);
  assert.equal(unknown.code, 66, unknown.stderr);
  assert.match(unknown.stderr, /error: no node named nope\nhint: known nodes: /);
  const form = await fetch(`${s.url}/v1/nodes/${name}/drain`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: 'x',
  });
  assert.equal(form.status, 415);
});
