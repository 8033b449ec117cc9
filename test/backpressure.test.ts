/** Slots, per-function concurrency and the bounded queue, against a real server and real runc. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { InvocationRecord } from '../src/store/store.js';
import { deployFiles } from './helpers/deploy.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let s: TestServer;

const deploy = (yaml: string) => deployFiles(s.url, { 'agni.yaml': yaml });

const invoke = (name: string) => fetch(`${s.url}/v1/functions/${name}/invoke`, { method: 'POST', body: '' });

describe('back-pressure', () => {
  before(async () => {
    s = await startTestServer({ slots: 1, maxQueue: 1 });
  });
  after(async () => {
    await s?.close();
  });

  test('a full queue answers 429 with Retry-After; everything accepted completes', async () => {
    await deploy('name: nap\nruntime: host\ncommand: "sleep 1; echo done"\npool: {max: 0}\n');
    const rs = await Promise.all([invoke('nap'), invoke('nap'), invoke('nap'), invoke('nap')]);
    const bodies = await Promise.all(rs.map((r) => r.text()));
    const ok = rs.filter((r) => r.status === 200);
    const refused = rs.filter((r) => r.status === 429);
    assert.equal(ok.length, 2, `one runs and one waits: ${rs.map((r) => r.status)}`);
    assert.equal(refused.length, 2);
    for (const r of refused) assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.equal(bodies.filter((b) => b === 'done\n').length, 2);
    assert.ok(bodies.some((b) => b.includes('"overloaded"')));
    const recs = (await (await fetch(`${s.url}/v1/functions/nap/invocations`)).json()) as {
      invocations: InvocationRecord[];
    };
    assert.equal(recs.invocations.length, 2, 'refused calls leave no record');
    assert.ok(recs.invocations.every((r) => r.status === 'succeeded'));
  });
});

describe('per-function concurrency', () => {
  before(async () => {
    s = await startTestServer({ slots: 2 });
  });
  after(async () => {
    await s?.close();
  });

  test('concurrency 1 runs one at a time even with free slots', async () => {
    await deploy('name: solo\nruntime: host\ncommand: "sleep 0.5"\nconcurrency: 1\npool: {max: 0}\n');
    const rs = await Promise.all([invoke('solo'), invoke('solo')]);
    for (const r of rs) assert.equal(r.status, 200);
    const recs = (
      (await (await fetch(`${s.url}/v1/functions/solo/invocations`)).json()) as {
        invocations: InvocationRecord[];
      }
    ).invocations;
    const [a, b] = recs.sort((x, y) => x.phases.placed! - y.phases.placed!);
    assert.ok(
      b!.phases.placed! >= a!.phases.finished! - 5,
      'the second is placed only after the first finished',
    );
  });
});

/** pids of host processes whose argv is exactly `argv` (a sandbox's function seen from the host) */
function processesRunning(argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'latin1') === want) pids.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const listOf = async (name: string) =>
  (
    (await (await fetch(`${s.url}/v1/functions/${name}/invocations`)).json()) as {
      invocations: InvocationRecord[];
    }
  ).invocations;

/** POSTs to the invoke route; `onResponse` gets the response as soon as its head arrives. */
function rawInvoke(
  name: string,
  body = '',
): { req: http.ClientRequest; response: Promise<http.IncomingMessage> } {
  const req = http.request(`${s.url}/v1/functions/${name}/invoke`, { method: 'POST' });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  req.end(body);
  return { req, response };
}

describe('a sync call whose client goes away', () => {
  before(async () => {
    s = await startTestServer({ slots: 2 });
  });
  after(async () => {
    await s?.close();
  });

  for (const [mode, pool, command, gone] of [
    ['fresh', '{max: 0}', 'exec sleep 37.25', 'before any output'],
    ['prewarmed', '{min: 1, max: 1}', 'echo started; exec sleep 37.5', 'after the first byte'],
  ] as const) {
    // A call without input returns at once (it fills the prewarmed pool); `go` starts the long run.
    const script = `read x; [ "$x" = go ] || exit 0; ${command}`;
    test(`is cancelled (${mode} sandbox, ${gone}): its sandbox is killed and the record says so`, async () => {
      const name = `gone-${mode}`;
      await deploy(`name: ${name}\nruntime: host\ncommand: ${JSON.stringify(script)}\npool: ${pool}\n`);
      const argv = ['sleep', command.split(' ').at(-1)!];
      const hits = s.prewarm?.stats().hits ?? 0;
      if (mode === 'prewarmed') {
        assert.equal((await invoke(name)).status, 200);
        // `current` also counts one still being prepared, which a call would not wait for: only a
        // ready sandbox makes the next call a hit.
        await until('a prepared sandbox', () =>
          s.prewarm?.held().some((k) => k.startsWith(`${name}@`)) ? true : undefined,
        );
      }
      const call = rawInvoke(name, 'go\n');
      call.response.catch(() => {}); // destroyed below
      await until('the function to run', () => (processesRunning(argv).length > 0 ? true : undefined));
      if (mode === 'prewarmed') {
        const res = await call.response;
        await new Promise((r) => res.once('data', r)); // the first byte arrived: it is streaming
      }
      call.req.destroy();
      const rec = await until('the record to settle', async () => {
        const [last] = await listOf(name); // newest first
        return last && last.status !== 'running' && last.status !== 'queued' ? last : undefined;
      });
      assert.equal(rec.status, 'failed');
      assert.equal(rec.error, 'cancelled: the caller went away');
      assert.match(rec.stderrTail, /agni: killed: the caller went away/);
      assert.deepEqual(processesRunning(argv), [], 'the function is killed');
      if (mode === 'prewarmed') assert.equal(s.prewarm?.stats().hits, hits + 1, 'it ran prewarmed');
      // Nothing left behind: runc's state and the sandbox's bundle go with it.
      const id = mode === 'fresh' ? rec.id : undefined;
      if (id) {
        await until('the bundle to be removed', () =>
          existsSync(join(s.home, 'sandboxes', id)) ? undefined : true,
        );
        assert.ok(!existsSync(join(s.home, 'run', 'runc', id)), 'runc state removed');
      }
    });
  }

  test('a slow reader holds the function: 200 MB of stdout never pile up in the server', async () => {
    const size = 200 * 1024 * 1024;
    const bound = 64 * 1024 * 1024;
    // A long timeout: on a busy machine the reading alone can take longer than the default.
    await deploy(
      `name: flood\nruntime: host\ncommand: "head -c ${size} /dev/zero"\npool: {max: 0}\nlimits: {timeout: 2m}\n`,
    );
    const base = process.memoryUsage.rss();
    const call = rawInvoke('flood');
    const res = await call.response;
    res.pause();
    // The client reads nothing for 4 s: without backpressure the server buffers all it can get
    // (the function writes its 200 MB in well under that), with it only what the pipes hold.
    let grew = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 4000 && grew < bound) {
      grew = Math.max(grew, process.memoryUsage.rss() - base);
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(grew < bound, `server RSS grew by ${(grew / 2 ** 20).toFixed(1)} MiB while the client paused`);
    let bytes = 0;
    res.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    res.resume(); // a 'data' listener alone does not restart a paused stream
    await once(res, 'end');
    assert.equal(bytes, size);
    assert.equal(res.trailers['agni-status'], 'succeeded');
  });
});
