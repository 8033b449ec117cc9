/**
 * A request body that sends nothing must not hold a slot, a sandbox or a connection for long
 * (issue 10): a real `agni up --slots 2 --upload-idle 1s`, real runc sandboxes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { InvocationRecord } from '../src/store/store.js';
import { type AgniUp, spawnAgniUp, stopAgniUp } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { runcIds } from './helpers/runc-list.js';

const manifest = (name: string, command: string[]) =>
  `name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\nlimits:\n  timeout: 60s\n`;

interface Answer {
  status: number;
  body: string;
  trailers: NodeJS.Dict<string>;
  ids: string[];
}

/** A pipe whose upload starts and then sends nothing; resolves with the server's answer. */
function idlePipe(url: string, fn: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/pipe?f=${fn}`, { method: 'POST' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          body,
          trailers: res.trailers,
          ids: String(res.headers['agni-invocation-ids'] ?? '').split(','),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.flushHeaders(); // chunked, and not a byte of body
  });
}

function containers(home: string): string[] {
  return runcIds(join(home, 'run', 'runc'));
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('idle uploads (agni up --slots 2 --upload-idle 1s)', () => {
  let up: AgniUp;
  let home: string;
  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'agni-idle-'));
    up = await spawnAgniUp(home, ['--slots', '2', '--upload-idle', '1s']);
    await deployFiles(up.url, { 'agni.yaml': manifest('cat', ['cat']) });
    await deployFiles(up.url, { 'agni.yaml': manifest('hi', ['/bin/sh', '-c', 'echo hi']) });
    await deployFiles(up.url, { 'agni.yaml': manifest('hello-cat', ['/bin/sh', '-c', 'echo start; cat']) });
    await deployFiles(up.url, { 'agni.yaml': manifest('late', ['/bin/sh', '-c', 'sleep 2; cat']) });
  });
  after(async () => {
    await stopAgniUp(up?.p);
    rmSync(home, { recursive: true, force: true });
  });

  test('two idle pipe uploads holding both slots are cut; a normal invoke then runs', async () => {
    const pipes = [idlePipe(up.url, 'cat'), idlePipe(up.url, 'cat')];
    await eventually(
      'both idle pipes run (each holds a slot and a sandbox)',
      () => containers(home).filter((c) => c.startsWith('inv-')).length === 2,
    );
    // On a server without the bound this waits for the stages' 60 s timeout: the signal fails it first.
    const r = await fetch(`${up.url}/v1/functions/hi/invoke`, {
      method: 'POST',
      body: '',
      signal: AbortSignal.timeout(15_000),
    });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'hi\n');
    const answers = await Promise.all(pipes);
    for (const a of answers) {
      assert.equal(a.status, 408, a.body);
      const e = JSON.parse(a.body) as { error: { code: string; message: string } };
      assert.equal(e.error.code, 'upload_idle');
      assert.match(e.error.message, /sent nothing for 1s/);
      const rec = (await (await fetch(`${up.url}/v1/invocations/${a.ids[0]}`)).json()) as InvocationRecord & {
        stderrTail: string;
      };
      assert.equal(rec.status, 'failed');
      assert.match(rec.stderrTail, /sent nothing for 1s/);
    }
    // (prewarmed sandboxes for the next calls may wait; the cut invocations' own are gone)
    const ids = answers.flatMap((a) => a.ids);
    await eventually('no sandbox of the cut invocations is left', () =>
      containers(home).every((c) => !ids.includes(c)),
    );
  });

  test('an idle pipe that already streamed output ends with the error in its trailers', async () => {
    const a = await idlePipe(up.url, 'hello-cat');
    assert.equal(a.status, 200);
    assert.equal(a.body, 'start\n');
    assert.equal(a.trailers['agni-status'], 'error');
    assert.equal(a.trailers['agni-error-code'], 'upload_idle');
    assert.match(a.trailers['agni-error'] ?? '', /sent nothing for 1s/);
  });

  test('an input paused because its stage does not read yet is not idle', async () => {
    const input = Buffer.alloc(4 * 1024 * 1024, 'x'); // far more than the pipes between client and stage hold
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = http.request(`${up.url}/v1/pipe?f=late`, { method: 'POST' }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body: String(n), trailers: res.trailers, ids: [] }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(input);
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.trailers['agni-status'], 'succeeded');
    assert.equal(answer.body, String(input.length));
  });

  test('a deploy whose body is not a tar is refused before it is read, not buffered', async () => {
    // 2 GiB announced, as text: buffered whole by a server that parses before it refuses
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        `${up.url}/v1/functions`,
        {
          method: 'POST',
          headers: { 'content-type': 'text/plain', 'content-length': String(2 * 1024 ** 3) },
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.write(Buffer.alloc(64 * 1024, 'x'));
      setTimeout(() => {
        resolve({ status: 0, body: 'no answer within 10 s: the server waits for (and buffers) the body' });
        req.destroy();
      }, 10_000).unref();
    });
    assert.equal(answer.status, 415, answer.body);
    assert.match(
      answer.body,
      /expected a tar upload \(content-type application\/x-tar or application\/gzip\), got text\/plain/,
    );
  });

  for (const [what, host] of [
    ['an invoke', '127.0.0.1'],
    ['a refused request (unknown Host)', 'evil.example'],
  ] as const) {
    test(`a stalled body of ${what} (slow loris) loses its connection`, async () => {
      const { port } = new URL(up.url);
      const sock = net.connect(Number(port), '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.write(
        `POST /v1/functions/hi/invoke HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Length: 100\r\n\r\n0123456789`,
      );
      const closed = await new Promise<boolean>((r) => {
        const timer = setTimeout(() => r(false), 15_000);
        sock.once('close', () => {
          clearTimeout(timer);
          r(true);
        });
        sock.resume();
      });
      sock.destroy();
      assert.ok(closed, 'the server kept the stalled connection open');
    });
  }
});
