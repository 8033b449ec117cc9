/**
 * `agni pipe`: stages in real runc sandboxes behind a real server, streamed end to end; the
 * backends' streamed stdin with backpressure; the CLI.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { SandboxIO, SandboxResult, SandboxSpec } from '../src/sandbox/backend.js';
import { ProcessBackend } from '../src/sandbox/process-backend.js';
import { RuncBackend } from '../src/sandbox/runc-backend.js';
import type { InvocationRecord } from '../src/store/store.js';
import { type AgniUp, CLI, spawnAgniUp, stopAgniUp } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { runcIds } from './helpers/runc-list.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir } from './helpers/tarball.js';

const MiB = 1024 * 1024;

const manifest = (name: string, command: string, extra = '') =>
  `name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\n${extra}`;

interface PipeResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  trailers: NodeJS.Dict<string>;
}

/** POST /v1/pipe with a streamed body, read to the end (trailers included). */
function pipe(
  url: string,
  names: string[],
  body: string | Buffer | Readable = '',
  type = 'application/vnd.agni.stream',
): Promise<PipeResponse> {
  const q = names.map((n) => `f=${encodeURIComponent(n)}`).join('&');
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/v1/pipe?${q}`,
      { method: 'POST', headers: { 'content-type': type } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: Buffer.concat(chunks),
            trailers: res.trailers,
          }),
        );
      },
    );
    req.on('error', reject);
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

/** POST /v1/pipe without a body; settles as soon as the response headers arrive. */
function headersOf(
  url: string,
  names: string[],
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Promise<Buffer> }> {
  const q = names.map((n) => `f=${encodeURIComponent(n)}`).join('&');
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/pipe?${q}`, { method: 'POST' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const body = new Promise<Buffer>((done, fail) => {
        res.on('end', () => done(Buffer.concat(chunks)));
        res.on('error', fail);
      });
      resolve({ status: res.statusCode!, headers: res.headers, body });
    });
    req.on('error', reject);
    req.end();
  });
}

async function record(url: string, id: string): Promise<InvocationRecord> {
  const r = await fetch(`${url}/v1/invocations/${id}`);
  assert.equal(r.status, 200);
  return (await r.json()) as InvocationRecord;
}

async function invocations(url: string, fn: string): Promise<InvocationRecord[]> {
  const r = await fetch(`${url}/v1/functions/${fn}/invocations?limit=1000`);
  return ((await r.json()) as { invocations: InvocationRecord[] }).invocations;
}

/** Containers in a home's runc state root: what is still running (or not yet deleted). */
function runcContainers(home: string): string[] {
  return runcIds(join(home, 'run', 'runc'));
}

/** Fresh sandboxes are named after their invocation: none of these may outlive the pipe. */
async function noSandboxLeft(home: string, ids: string[]): Promise<void> {
  await eventually(`no sandbox of ${ids.join(', ')} is left`, () =>
    runcContainers(home).every((c) => !ids.includes(c)),
  );
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `total` bytes of a fixed pseudo-random pattern, made as it is read (never held whole). */
function generated(total: number, onRead?: (n: number) => void): Readable {
  const block = createHash('sha512').update('agni').digest();
  const chunk = Buffer.alloc(64 * 1024);
  for (let i = 0; i < chunk.length; i += block.length) block.copy(chunk, i);
  let sent = 0;
  return new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      onRead?.(sent);
      this.push(chunk.subarray(0, n));
    },
  });
}

/** Runs the real CLI against `url`; stdin is /dev/null unless `input` is given. */
function cli(
  url: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, AGNI_URL: url },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (c: Buffer) => {
    stdout += c;
  });
  p.stderr!.on('data', (c: Buffer) => {
    stderr += c;
  });
  if (input !== undefined) p.stdin!.end(input);
  return new Promise((resolve) => p.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

describe('agni pipe over HTTP (runc)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ slots: 3, maxPayloadBytes: MiB });
    const fns: [string, string, string?][] = [
      ['upper', 'tr a-z A-Z'],
      ['zeroes', 'sed s/O/0/g'],
      ['reverse', 'rev', 'pool: {max: 0}\n'],
      ['cat', 'cat', 'pool: {max: 0}\n'],
      ['count', 'wc -c', 'pool: {max: 0}\n'],
      ['yes', 'yes agni', 'pool: {max: 0}\n'],
      ['first-kb', 'head -c 1000; exit 3', 'pool: {max: 0}\n'],
      ['boom', 'echo boom >&2; exit 5', 'pool: {max: 0}\n'],
      ['slow', 'echo first; sleep 2; echo second', 'pool: {max: 0}\n'],
      ['nap', 'cat; sleep 0.5', 'pool: {max: 0}\n'],
      ['solo', 'cat', 'concurrency: 1\npool: {max: 0}\n'],
      ['hush', 'sleep 1; echo late'],
      // prepared ahead: it answers as soon as a sandbox can
      ['hi', 'echo hi', 'pool: {min: 1, max: 3}\n'],
    ];
    for (const [name, cmd, extra] of fns)
      await deployFiles(s.url, { 'agni.yaml': manifest(name, cmd, extra) });
    await deployFiles(s.url, {
      'agni.yaml': 'name: warm-upper\nruntime: host\ncommand: ["/bin/sh", "/fn/main.sh"]\nlifecycle: warm\n',
      'main.sh': '. "$AGNI_RUNTIMES/shell/agni-warm.sh"\nhandle() { tr a-z A-Z; }\nagni_serve handle\n',
    });
  });
  after(async () => {
    await s?.close();
  });

  test('three stages transform the data in order, each a recorded invocation', async () => {
    const input = 'to be or not to be\nthat is the question\n';
    const r = await pipe(s.url, ['upper', 'zeroes', 'reverse'], input);
    assert.equal(r.status, 200, r.body.toString());
    const want = input
      .toUpperCase()
      .replaceAll('O', '0')
      .split('\n')
      .map((l) => [...l].reverse().join(''))
      .join('\n');
    assert.equal(r.body.toString(), want);
    assert.equal(r.trailers['agni-status'], 'succeeded');
    const ids = String(r.headers['agni-invocation-ids']).split(',');
    assert.equal(ids.length, 3);
    const recs = await Promise.all(ids.map((id) => record(s.url, id)));
    assert.deepEqual(
      recs.map((x) => [x.function, x.status, x.payloadBytes, x.stdoutBytes]),
      [
        ['upper', 'succeeded', input.length, input.length],
        ['zeroes', 'succeeded', input.length, input.length],
        ['reverse', 'succeeded', input.length, input.length],
      ],
    );
  });

  test('every id in agni-invocation-ids names a stored record as soon as the headers arrive', async () => {
    // `hi` answers at once, without reading its input, while `hush` before it is still silent: a
    // stage's record is inserted lazily (invoker.ts), yet its id goes out with the first byte. The
    // deterministic case (a stage answering within the insert's delay) is in pipeline-recorded.test.ts.
    for (let k = 0; k < 3; k++) {
      const r = await headersOf(s.url, ['hush', 'hi']);
      const ids = String(r.headers['agni-invocation-ids']).split(',');
      const found = await Promise.all(
        ids.map(async (id) => (await fetch(`${s.url}/v1/invocations/${id}`)).status),
      );
      assert.deepEqual(found, [200, 200], `run ${k}: ${ids.join(',')}`);
      assert.equal(r.status, 200);
      assert.equal((await r.body).toString(), 'hi\n');
    }
  });

  test('the body streams whatever its content type; other routes keep their body limit', async () => {
    for (const type of ['application/octet-stream', 'application/json', 'text/plain']) {
      const r = await pipe(s.url, ['cat', 'cat'], generated(3 * MiB), type);
      assert.equal(r.status, 200, `${type}: ${r.body.toString().slice(0, 300)}`);
      assert.equal(r.body.length, 3 * MiB, type);
    }
    const invoke = await fetch(`${s.url}/v1/functions/cat/invoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(2 * MiB),
    });
    assert.equal(invoke.status, 413, 'the invoke route still buffers, with its 1 MiB limit');
  });

  test("stage 1's first output reaches the client before stage 1 finishes", async () => {
    const t0 = Date.now();
    const firstAt = await new Promise<{ ms: number; first: string; rest: Promise<string> }>(
      (resolve, reject) => {
        const req = http.request(`${s.url}/v1/pipe?f=slow&f=cat&f=cat`, { method: 'POST' }, (res) => {
          res.once('data', (c: Buffer) => {
            const ms = Date.now() - t0;
            let rest = '';
            res.on('data', (d: Buffer) => {
              rest += d;
            });
            resolve({ ms, first: c.toString(), rest: new Promise((r) => res.on('end', () => r(rest))) });
          });
        });
        req.on('error', reject);
        req.end();
      },
    );
    assert.equal(firstAt.first, 'first\n');
    assert.ok(firstAt.ms < 1500, `first bytes after ${firstAt.ms} ms, before stage 1's 2 s sleep ended`);
    assert.equal(await firstAt.rest, 'second\n');
  });

  test('a failing middle stage: later stages see EOF, earlier ones are stopped, the stage is named', async () => {
    const r = await pipe(s.url, ['yes', 'first-kb', 'count']);
    // `count` saw EOF after first-kb's 1000 bytes and answered; then the failure came in trailers.
    assert.equal(r.status, 200);
    assert.equal(r.body.toString().trim(), '1000');
    const ids = String(r.headers['agni-invocation-ids']).split(',');
    assert.equal(r.trailers['agni-status'], 'failed');
    assert.equal(r.trailers['agni-exit-code'], '3');
    assert.equal(r.trailers['agni-failed-stage'], '2');
    assert.equal(r.trailers['agni-failed-invocation'], ids[1]);
    const [yes, kb, count] = await Promise.all(ids.map((id) => record(s.url, id)));
    assert.equal(kb!.status, 'failed');
    assert.equal(kb!.exitCode, 3);
    assert.equal(count!.status, 'succeeded');
    // `yes` never ends by itself: it was killed once its reader had gone, not at its 30 s deadline.
    assert.equal(yes!.status, 'failed');
    assert.match(yes!.stderrTail, /agni: killed: stage 2 \(first-kb\) ended before reading all its input/);
    assert.ok(yes!.phases.finished! - yes!.phases.started! < 5000);
    await noSandboxLeft(s.home, ids);
    const health = (await (await fetch(`${s.url}/healthz`)).json()) as { running: number; queued: number };
    assert.equal(health.running, 0);
  });

  test('a stage that fails before any output answers with its own error, naming the stage', async () => {
    const r = await pipe(s.url, ['cat', 'boom', 'cat'], 'some input\n');
    assert.equal(r.status, 502);
    const e = (
      JSON.parse(r.body.toString()) as {
        error: { code: string; message: string; details: Record<string, unknown> };
      }
    ).error;
    assert.equal(e.code, 'function_failed');
    const ids = String(r.headers['agni-invocation-ids']).split(',');
    assert.match(e.message, /^pipe stage 2 of 3 failed: boom exited with code 5/);
    assert.ok(e.message.includes(ids[1]!));
    assert.equal(e.details.stage, 2);
    assert.equal(e.details.invocation_id, ids[1]);
    assert.equal(e.details.exit_code, 5);
    assert.equal(e.details.stderr_tail, 'boom\n');
    const last = await record(s.url, ids[2]!);
    assert.equal(last.status, 'succeeded', 'the stage after it saw EOF and finished');
  });

  test('an unknown function is refused with 404 before any stage runs', async () => {
    const before = (await invocations(s.url, 'upper')).length;
    const r = await pipe(s.url, ['upper', 'no-such-fn', 'upper'], 'x');
    assert.equal(r.status, 404);
    const e = (JSON.parse(r.body.toString()) as { error: { code: string; message: string } }).error;
    assert.equal(e.code, 'function_not_found');
    assert.match(e.message, /no function named no-such-fn \(stage 2 of the pipe\)/);
    assert.equal((await invocations(s.url, 'upper')).length, before, 'nothing was recorded');
  });

  test('a pipe longer than the slots, or a function used past its concurrency, is refused', async () => {
    const before = (await invocations(s.url, 'cat')).length;
    const r = await pipe(s.url, ['cat', 'cat', 'cat', 'cat'], 'x');
    assert.equal(r.status, 400);
    const e = (JSON.parse(r.body.toString()) as { error: { code: string; message: string; hint: string } })
      .error;
    assert.equal(e.code, 'bad_request');
    assert.match(e.message, /a pipe of 4 stages needs 4 slots at once, and this node has 3/);
    assert.match(e.hint, /--slots/);
    const r2 = await pipe(s.url, ['solo', 'cat', 'solo'], 'x');
    assert.equal(r2.status, 400);
    assert.match(r2.body.toString(), /solo appears 2 times in the pipe, but its concurrency is 1/);
    assert.equal((await invocations(s.url, 'cat')).length, before, 'nothing was recorded');
    const r3 = await pipe(s.url, [], 'x');
    assert.equal(r3.status, 400);
    assert.match(r3.body.toString(), /query `f`/);
  });

  test('pipes take all their slots at once: two at the same time never deadlock', async () => {
    // Each needs all 3 slots; taking them one by one, two pipes could each hold some and wait forever.
    const [a, b] = await Promise.all([
      pipe(s.url, ['nap', 'nap', 'nap'], 'a'),
      pipe(s.url, ['nap', 'nap', 'nap'], 'b'),
    ]);
    assert.equal(a.body.toString(), 'a');
    assert.equal(b.body.toString(), 'b');
    const recs = await Promise.all(
      [a, b]
        .flatMap((r) => String(r.headers['agni-invocation-ids']).split(','))
        .map((id) => record(s.url, id)),
    );
    const placed = (i: number) => recs.slice(i * 3, i * 3 + 3).map((x) => x.phases.placed!);
    const finished = (i: number) => recs.slice(i * 3, i * 3 + 3).map((x) => x.phases.finished!);
    const [first, second] = Math.min(...placed(0)) < Math.min(...placed(1)) ? [0, 1] : [1, 0];
    assert.ok(
      Math.min(...placed(second)) >= Math.max(...finished(first)) - 50,
      'the second pipe was placed, whole, once the first had freed its slots',
    );
  });

  test('a warm stage takes its input buffered, up to the payload limit', async () => {
    const ok = await pipe(s.url, ['cat', 'warm-upper', 'cat'], 'warm hello\n');
    assert.equal(ok.status, 200, ok.body.toString());
    assert.equal(ok.body.toString(), 'WARM HELLO\n');
    const ids = String(ok.headers['agni-invocation-ids']).split(',');
    assert.equal((await record(s.url, ids[1]!)).payloadBytes, 11);
    const big = await pipe(s.url, ['cat', 'warm-upper', 'cat'], generated(2 * MiB));
    assert.equal(big.status, 413, big.body.toString());
    const e = (JSON.parse(big.body.toString()) as { error: { code: string; message: string; hint: string } })
      .error;
    assert.equal(e.code, 'payload_too_large');
    assert.match(
      e.message,
      /pipe stage 2 of 3 failed: .*warm-upper is a warm function.*limit of 1048576 bytes/,
    );
    assert.match(e.hint, /lifecycle: cold/);
    await noSandboxLeft(s.home, String(big.headers['agni-invocation-ids']).split(','));
  });

  test('agni pipe: stdin, --data and --data @file through the stages to stdout', async () => {
    const viaStdin = await cli(s.url, ['pipe', 'upper', 'reverse'], 'hello\nworld\n');
    assert.equal(viaStdin.code, 0, viaStdin.stderr);
    assert.equal(viaStdin.stdout, 'OLLEH\nDLROW\n');
    const viaData = await cli(s.url, ['pipe', 'upper', 'zeroes', 'count', '--data', 'foo boo']);
    assert.equal(viaData.code, 0, viaData.stderr);
    assert.equal(viaData.stdout.trim(), '7');
    const file = join(fnDir({ 'in.txt': 'one\ntwo\n' }), 'in.txt');
    const viaFile = await cli(s.url, ['pipe', 'cat', 'upper', '--data', `@${file}`]);
    assert.equal(viaFile.stdout, 'ONE\nTWO\n');
    const missing = await cli(s.url, ['pipe', 'cat', '--data', '@/nonexistent/in.txt']);
    assert.equal(missing.code, 64);
    assert.match(
      missing.stderr,
      /--data @\/nonexistent\/in\.txt: cannot read \/nonexistent\/in\.txt: ENOENT/,
    );
    const help = await cli(s.url, ['pipe', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Examples:\n {2}agni pipe upper wordcount/);
  });

  test("agni pipe exits with the failing stage's code and names it", async () => {
    const late = await cli(s.url, ['pipe', 'yes', 'first-kb', 'count']);
    assert.equal(late.code, 3, late.stderr);
    assert.equal(late.stdout.trim(), '1000');
    assert.match(late.stderr, /pipe stage 2 \(first-kb\) failed after output had started \(exit code 3\)/);
    assert.match(late.stderr, /agni inspect inv-/);
    const early = await cli(s.url, ['pipe', 'cat', 'boom', 'cat', '--data', 'x']);
    assert.equal(early.code, 5, early.stderr);
    assert.match(early.stderr, /pipe stage 2 of 3 failed: boom exited with code 5 \(inv-/);
    assert.equal((await cli(s.url, ['pipe', 'cat', 'nope'])).code, 66);
    const long = await cli(s.url, ['pipe', 'cat', 'cat', 'cat', 'cat']);
    assert.equal(long.code, 64);
    assert.match(long.stderr, /needs 4 slots at once/);
  });

  test('a caller that goes away mid-stream stops every stage', async () => {
    const ids = await new Promise<string[]>((resolve, reject) => {
      const req = http.request(`${s.url}/v1/pipe?f=yes&f=cat&f=cat`, { method: 'POST' }, (res) => {
        let got = 0;
        res.on('data', (c: Buffer) => {
          got += c.length;
          if (got > 4 * MiB) {
            resolve(String(res.headers['agni-invocation-ids']).split(','));
            req.destroy();
          }
        });
      });
      req.on('error', () => {});
      req.on('close', () => reject(new Error('closed early')));
      req.end();
    });
    await eventually('every stage finished', async () => {
      const recs = await Promise.all(ids.map((id) => record(s.url, id)));
      return recs.every((x) => x.status !== 'queued' && x.status !== 'running' && x.phases.finished);
    });
    for (const id of ids)
      assert.match((await record(s.url, id)).stderrTail, /agni: killed: the caller went away/);
    await noSandboxLeft(s.home, ids);
  });
});

/** Peak resident memory of a process so far (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('agni pipe streams far past the payload limit (agni up)', () => {
  let up: AgniUp;
  let home: string;
  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'agni-pipe-up-'));
    // The default payload limit (16 MiB) applies to invoke; a pipe never buffers, so it has none.
    up = await spawnAgniUp(home, ['--slots', '3']);
    await deployFiles(up.url, { 'agni.yaml': manifest('cat', 'cat') });
  });
  after(async () => {
    await stopAgniUp(up?.p);
    rmSync(home, { recursive: true, force: true });
  });

  test("200 MB through three stages, byte for byte, with the server's memory bounded", async () => {
    const warmup = await pipe(up.url, ['cat', 'cat', 'cat'], generated(4 * MiB));
    assert.equal(warmup.body.length, 4 * MiB);
    const base = peakRss(up.p.pid!);
    const total = 200 * MiB;
    const src = generated(total);
    const sent = createHash('sha256');
    src.on('data', (c: Buffer) => sent.update(c));
    const got = createHash('sha256');
    const t0 = performance.now();
    const { status, bytes, ids, trailers } = await new Promise<{
      status: number;
      bytes: number;
      ids: string[];
      trailers: NodeJS.Dict<string>;
    }>((resolve, reject) => {
      const req = http.request(`${up.url}/v1/pipe?f=cat&f=cat&f=cat`, { method: 'POST' }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          got.update(c);
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            bytes: n,
            ids: String(res.headers['agni-invocation-ids']).split(','),
            trailers: res.trailers,
          }),
        );
      });
      req.on('error', reject);
      src.pipe(req);
    });
    const secs = (performance.now() - t0) / 1000;
    const growth = peakRss(up.p.pid!) - base;
    console.log(
      `# 200 MiB through 3 stages in ${secs.toFixed(2)} s (${(200 / secs).toFixed(0)} MiB/s); server peak RSS +${(growth / MiB).toFixed(1)} MiB`,
    );
    assert.equal(status, 200);
    assert.equal(trailers['agni-status'], 'succeeded');
    assert.equal(bytes, total);
    assert.equal(got.digest('hex'), sent.digest('hex'));
    assert.ok(growth < 64 * MiB, `server peak RSS grew ${growth} bytes: the stream was buffered`);
    const recs = await Promise.all(ids.map((id) => record(up.url, id)));
    for (const r of recs) {
      assert.equal(r.payloadBytes, total, 'the payload size on the record is what was streamed');
      assert.equal(r.stdoutBytes, total);
    }
  });
});

describe('backends stream stdin with backpressure and stop on abort', () => {
  const home = mkdtempSync(join(tmpdir(), 'agni-pipe-backends-'));
  const codeDir = fnDir({ 'hello.txt': 'hi\n' });
  const runc = new RuncBackend({ home });
  const proc = new ProcessBackend();
  let seq = 0;
  const spec = (args: string[]): SandboxSpec => ({
    id: `pipe${process.pid}-${seq++}`,
    rootfs: '',
    hostRuntime: true,
    codeDir,
    args,
    env: {},
    cwd: '/fn',
    limits: { memoryBytes: 128 * MiB, cpus: 1, pids: 64, timeoutMs: 20_000 },
    network: 'none',
  });
  type Run = (args: string[], io: SandboxIO) => Promise<SandboxResult>;
  const ways: [string, Run][] = [
    ['runc, fresh sandbox', (args, io) => runc.run(spec(args), io)],
    [
      'runc, prepared sandbox',
      async (args, io) => {
        const sb = await runc.prepare(spec(args));
        const { stdin, ...rest } = io;
        return sb.start({ env: {}, stdin, io: rest, deadline: Date.now() + 20_000 });
      },
    ],
    ['process backend', (args, io) => proc.run(spec(args), io)],
  ];
  after(async () => {
    await Promise.all([runc.shutdown(), proc.shutdown()]);
    rmSync(home, { recursive: true, force: true });
  });

  for (const [name, run] of ways) {
    test(`${name}: a held stdout stops the reading of stdin; all of it arrives once released`, async () => {
      const total = 32 * MiB;
      let pulled = 0;
      let out = 0;
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let holding = true;
      const running = run(['cat'], {
        stdin: generated(total, (n) => {
          pulled = n;
        }),
        onStdout: (c) => {
          out += c.length;
          return holding ? held : undefined;
        },
        onStderr: () => {},
      });
      await new Promise((r) => setTimeout(r, 1000));
      const pulledWhileHeld = pulled;
      holding = false;
      release();
      const r = await running;
      assert.equal(r.outcome, 'ok');
      assert.equal(out, total);
      assert.equal(r.stdinBytes, total);
      assert.ok(
        pulledWhileHeld < 2 * MiB,
        `${pulledWhileHeld} bytes were read from stdin while stdout was held`,
      );
    });

    test(`${name}: an abort kills the sandbox at once; the stream is left to its owner`, async () => {
      const stop = new AbortController();
      const input = new PassThrough();
      input.write('partial ');
      const t0 = Date.now();
      const running = run(['sh', '-c', 'cat >/dev/null; sleep 30'], {
        stdin: input,
        onStdout: () => {},
        onStderr: () => {},
        signal: stop.signal,
      });
      setTimeout(() => stop.abort(), 300);
      const r = await running;
      assert.equal(r.outcome, 'timeout');
      assert.ok(Date.now() - t0 < 5000, 'killed long before the sleep ended');
      assert.equal(r.stdinBytes, 8);
      assert.equal(input.destroyed, false, 'the stream belongs to its owner: not destroyed');
      assert.equal(input.writableEnded, false);
    });
  }
});
