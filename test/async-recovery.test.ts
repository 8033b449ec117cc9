/** SIGKILL `agni up` while async invocations are queued and running: nothing accepted is lost. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnAgniUp, stopAgniUp } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { tempDir } from './helpers/tmp.js';

test('after SIGKILL mid-run every accepted async invocation runs again and finishes', async () => {
  const home = tempDir('agni-async-kill-');
  const first = await spawnAgniUp(home, ['--slots', '2']);
  await deployFiles(first.url, {
    'agni.yaml': 'name: slow\nruntime: host\ncommand: "read x; sleep 1; echo done $x"\n',
  });
  const ids: string[] = [];
  for (let i = 1; i <= 6; i++) {
    const r = await fetch(`${first.url}/v1/functions/slow/async`, { method: 'POST', body: `${i}\n` });
    assert.equal(r.status, 202);
    ids.push(((await r.json()) as { id: string }).id);
  }
  // Kill while some run and the rest wait.
  const deadline = Date.now() + 10_000;
  let running = 0;
  while (running === 0 && Date.now() < deadline) {
    const list = (await (await fetch(`${first.url}/v1/invocations?limit=10`)).json()) as {
      invocations: { status: string }[];
    };
    running = list.invocations.filter((i) => i.status === 'running').length;
    if (running === 0) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(running > 0, 'some invocations were running at the kill');
  first.p.kill('SIGKILL');
  await new Promise((r) => first.p.once('exit', r));

  const second = await spawnAgniUp(home, ['--slots', '2']);
  try {
    // The log line goes to stderr, which may arrive after the start banner on stdout.
    for (let i = 0; i < 100 && !/queued again/.test(second.out()); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.match(second.out(), /queued again/, 'the interrupted attempts are re-queued at start');
    for (const [i, id] of ids.entries()) {
      const r = await fetch(`${second.url}/v1/invocations/${id}/result?wait=30`);
      assert.equal(r.status, 200, `${id} finished`);
      assert.equal(r.headers.get('agni-status'), 'succeeded');
      assert.equal((await r.text()).trim(), `done ${i + 1}`);
    }
  } finally {
    await stopAgniUp(second.p);
  }
});
