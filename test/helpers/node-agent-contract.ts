/**
 * What every NodeAgent must do, whatever carries the call: the same tests run against the
 * in-process Agent and against NatsNodeAgent → NATS → serveNodeAgent → Agent (test/node-agents.test.ts),
 * each queued behind a LocalDispatcher as the roles run them.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAgniError } from '../../src/core/errors.js';
import { parseManifest } from '../../src/core/manifest.js';
import { type DispatchHooks, dispatchRequest } from '../../src/dispatch/dispatch-request.js';
import { LocalDispatcher } from '../../src/dispatch/local-dispatcher.js';
import type { NodeAgent } from '../../src/dispatch/node-agent.js';
import type { SandboxResult } from '../../src/sandbox/backend.js';
import type { VersionRecord } from '../../src/store/store.js';
import { tempDir } from './tmp.js';

export interface ContractNode {
  node: NodeAgent;
  /** what the serving side holds of a running call's payload at most so far (NATS only) */
  maxPendingBytes?: () => number | undefined;
}

export interface ContractTarget {
  name: string;
  /** the sandbox backend behind the node */
  backend: 'process' | 'runc';
  /** plain host processes: a sandbox can write a file the test sees */
  sharesHostFiles: boolean;
  node(): ContractNode;
}

const codeDir = tempDir('agni-contract-code-');
const MiB = 1024 * 1024;

let seq = 0;
export const version = (command: string[], o: { timeout?: string; codeDir?: string } = {}): VersionRecord => {
  const name = `c${seq++}`;
  return {
    function: name,
    version: 1,
    manifest: parseManifest(
      `name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\nlimits: { timeout: ${o.timeout ?? '60s'} }\n`,
    ),
    codeDir: o.codeDir ?? codeDir,
    imageId: 'host',
    createdAt: Date.now(),
  };
};

export interface Ran {
  result: SandboxResult;
  stdout: Buffer;
  stderr: string;
  hooks: string[];
}

/** runs one call through a LocalDispatcher over `node`, collecting its output and hooks */
export function call(
  node: NodeAgent,
  v: VersionRecord,
  payload: Buffer | Readable,
  o: { signal?: AbortSignal; onStdout?: (c: Buffer, total: number) => unknown } = {},
): Promise<Ran> {
  const d = new LocalDispatcher(node);
  const out: Buffer[] = [];
  let total = 0;
  let stderr = '';
  const hooks: string[] = [];
  const record = (h: string) => () => hooks.push(h);
  const h: DispatchHooks = {
    onPlaced: (p) => hooks.push(`placed:${p.node}`),
    onDispatched: record('dispatched'),
    onDeadline: (t) => hooks.push(t > Date.now() ? 'deadline' : 'deadline-past'),
    onReady: record('ready'),
    onStarted: record('started'),
  };
  const id = `inv-${v.function}`;
  return d
    .dispatch({
      request: dispatchRequest({ invocationId: id, version: v, payload }),
      channel: {
        payload,
        io: {
          onStdout: (c) => {
            out.push(c);
            total += c.length;
            return o.onStdout?.(c, total);
          },
          onStderr: (c) => {
            stderr += c.toString();
          },
          signal: o.signal,
        },
        hooks: h,
      },
    })
    .then((result) => ({ result, stdout: Buffer.concat(out), stderr, hooks }))
    .finally(() => d.close());
}

/** a lazily made stream of `bytes` bytes that counts what was pulled from it */
export function countedSource(bytes: number): { stream: Readable; pulled: () => number; sha: string } {
  let pulled = 0;
  const block = Buffer.alloc(16 * 1024, 'abcdefgh');
  const hash = createHash('sha256');
  for (let i = 0; i < bytes; i += block.length)
    hash.update(block.subarray(0, Math.min(block.length, bytes - i)));
  const stream = new Readable({
    highWaterMark: 16 * 1024,
    read() {
      if (pulled >= bytes) return void this.push(null);
      const n = Math.min(block.length, bytes - pulled);
      pulled += n;
      this.push(block.subarray(0, n));
    },
  });
  return { stream, pulled: () => pulled, sha: hash.digest('hex') };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export function nodeAgentContract(t: ContractTarget): void {
  describe(`NodeAgent contract: ${t.name}`, () => {
    test('echoes a payload, and reports every hook in order', async () => {
      const { node } = t.node();
      const r = await call(node, version(['cat']), Buffer.from('hello'));
      assert.equal(r.result.outcome, 'ok');
      assert.equal(r.stdout.toString(), 'hello');
      const order = r.hooks.filter((h) => h !== 'dispatched' && !h.startsWith('placed'));
      assert.deepEqual(order, ['deadline', 'ready', 'started']);
      assert.equal(r.hooks[0], `placed:${node.info.node}`);
    });

    test('streams several MB both ways (a stream and a buffer payload), unchanged', async () => {
      const { node } = t.node();
      const src = countedSource(6 * MiB);
      const r = await call(node, version(['cat']), src.stream);
      assert.equal(r.result.outcome, 'ok');
      assert.equal(r.stdout.length, 6 * MiB);
      assert.equal(sha(r.stdout), src.sha);
      assert.equal(r.result.stdinBytes, 6 * MiB);
      const buf = Buffer.alloc(3 * MiB + 17, 'xyz');
      const b = await call(node, version(['cat']), buf);
      assert.equal(b.result.outcome, 'ok');
      assert.ok(b.stdout.equals(buf));
    });

    test('stderr and the exit code come back', async () => {
      const { node } = t.node();
      const r = await call(
        node,
        version(['/bin/sh', '-c', 'echo out; echo oops >&2; exit 3']),
        Buffer.alloc(0),
      );
      assert.equal(r.result.outcome, 'failed');
      assert.equal(r.result.exitCode, 3);
      assert.equal(r.stdout.toString(), 'out\n');
      assert.equal(r.stderr, 'oops\n');
    });

    test('a call past its timeout is killed with outcome timeout', async () => {
      const { node } = t.node();
      const r = await call(node, version(['sleep', '30'], { timeout: '1s' }), Buffer.alloc(0));
      assert.equal(r.result.outcome, 'timeout');
    });

    test('aborting the signal kills the call, and says why on stderr', async () => {
      const { node } = t.node();
      const stop = new AbortController();
      const running = call(node, version(['/bin/sh', '-c', 'echo up; sleep 30']), Buffer.alloc(0), {
        signal: stop.signal,
        onStdout: () => stop.abort(new Error('the next stage ended')),
      });
      const r = await running;
      assert.equal(r.result.outcome, 'failed');
      assert.equal(r.result.signal, 'SIGKILL');
      assert.match(r.stderr, /agni: killed: the next stage ended/);
    });

    test('an AgniError of the node arrives with its code, hint and details', async () => {
      const { node } = t.node();
      const v = version(['true'], { codeDir: join(codeDir, 'gone') });
      const e = await call(node, v, Buffer.alloc(0)).then(
        () => assert.fail('ran'),
        (err: unknown) => err,
      );
      assert.ok(isAgniError(e), String(e));
      assert.equal(e.code, 'function_not_found');
      assert.match(e.message, new RegExp(`${v.function} was removed`));
      assert.equal(e.hint, 'deploy it again with `agni deploy DIR`');
    });

    test('a slow reader of stdout holds the sandbox: it cannot write ahead', {
      skip: !t.sharesHostFiles,
    }, async () => {
      const { node } = t.node();
      const dir = tempDir('agni-bp-');
      const mark = join(dir, 'wrote-all');
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let stalled = false;
      const running = call(
        node,
        version(['/bin/sh', '-c', `head -c 8000000 /dev/zero; touch ${mark}`]),
        Buffer.alloc(0),
        {
          onStdout: (_c, total) => {
            if (total < MiB) return undefined;
            stalled = true;
            return held;
          },
        },
      );
      while (!stalled) await sleep(50);
      await sleep(1500);
      assert.equal(existsSync(mark), false, 'the function wrote all its output while the reader stalled');
      release();
      const r = await running;
      assert.equal(r.result.outcome, 'ok');
      assert.equal(r.stdout.length, 8_000_000);
      assert.ok(existsSync(mark));
    });

    // The runc backend itself (in-process too) holds such a call for ever: a bug of
    // src/sandbox/runc-backend.ts found here, reported for its owner; the transport passes it.
    test('a reader that stops reading does not hold the call past its deadline', {
      skip:
        t.backend === 'process'
          ? false
          : 'runc backend: a stalled reader holds the call past its deadline (known bug)',
    }, async () => {
      const { node } = t.node();
      const never = new Promise<void>(() => {});
      const r = await call(
        node,
        version(['/bin/sh', '-c', 'head -c 4000000 /dev/zero; sleep 60'], { timeout: '2s' }),
        Buffer.alloc(0),
        {
          onStdout: (_c, total) => (total >= MiB ? never : undefined),
        },
      );
      assert.equal(r.result.outcome, 'timeout');
      assert.ok(r.stdout.length >= MiB && r.stdout.length < 4_000_000, `got ${r.stdout.length} bytes`);
    });

    test('a sandbox slow to read its stdin holds the payload at the source', async () => {
      const c = t.node();
      const src = countedSource(8 * MiB);
      const running = call(
        c.node,
        version(['/bin/sh', '-c', 'head -c 65536 >/dev/null; sleep 3; cat >/dev/null; echo done']),
        src.stream,
      );
      await sleep(2000);
      const pulled = src.pulled();
      // What may be in flight: the pipe to the sandbox, the streams' buffers and the window.
      assert.ok(pulled < 2 * MiB, `pulled ${pulled} bytes while the sandbox slept`);
      const pending = c.maxPendingBytes?.();
      if (pending !== undefined) assert.ok(pending <= 8 * 64 * 1024, `the node held ${pending} bytes`);
      const r = await running;
      assert.equal(r.result.outcome, 'ok');
      assert.equal(r.stdout.toString(), 'done\n');
      assert.equal(src.pulled(), 8 * MiB);
    });
  });
}
