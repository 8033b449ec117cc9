/**
 * Image layers as an overlay root in real runc sandboxes: a busybox base layer plus a top layer
 * that deletes a file, hides a directory's contents and adds files. Checks the merged view, that
 * writes never reach the layer dirs, and that no overlay mount or upper dir is ever left behind.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { create } from 'tar';
import { isAgniError } from '../src/core/errors.js';
import { mountOverlayRoot, mountsUnder } from '../src/image/oci/overlay.js';
import { ensureLayer } from '../src/image/oci/unpack.js';
import type { SandboxResult, SandboxSpec } from '../src/sandbox/backend.js';
import { RuncBackend } from '../src/sandbox/runc-backend.js';
import { makeBusyboxRootfs } from './helpers/busybox-rootfs.js';
import { GZ, writeLayer } from './helpers/layer-tar.js';

const home = mkdtempSync(join(tmpdir(), 'agni-overlay-runc-'));
const sandboxes = join(home, 'sandboxes');
const codeDir = join(home, 'code');
mkdirSync(codeDir, { recursive: true });
const backend = new RuncBackend({ home });
let layers: string[] = [];
let seq = 0;

const digestOf = (file: string) => `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;

function spec(script: string, over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    id: `ov${process.pid}-${seq++}`,
    rootfs: '/nonexistent-rootfs-unused-with-layers',
    hostRuntime: false,
    codeDir,
    args: ['/bin/sh', '-c', script],
    env: {},
    cwd: '/',
    limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 64, timeoutMs: 10_000 },
    network: 'none',
    layers,
    ...over,
  };
}

async function run(s: SandboxSpec): Promise<{ result: SandboxResult; stdout: string; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const result = await backend.run(s, {
    stdin: Buffer.alloc(0),
    onStdout: (c) => out.push(c),
    onStderr: (c) => err.push(c),
  });
  return { result, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** cleanup runs off the response path: wait until the sandbox's dir is gone */
async function gone(id: string): Promise<void> {
  const dir = join(sandboxes, id);
  for (let i = 0; i < 100 && existsSync(dir); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(existsSync(dir), false, `sandbox dir ${dir} removed`);
  assert.deepEqual(mountsUnder(home), [], 'no mount left under the Agni home');
}

describe('overlay roots in runc sandboxes', { concurrency: false }, () => {
  before(async () => {
    const status = await backend.available();
    assert.ok(status.ok, `runc backend unavailable: ${status.reason}`);
    const base = makeBusyboxRootfs(join(home, 'base-rootfs'));
    writeFileSync(join(base, 'etc', 'victim'), 'lower\n');
    mkdirSync(join(base, 'opq'));
    writeFileSync(join(base, 'opq', 'old'), 'old\n');
    const baseBlob = join(home, 'base.tar.gz');
    await create({ gzip: true, cwd: base, file: baseBlob, portable: true }, ['.']);
    const topBlob = writeLayer(join(home, 'top.tar.gz'), [
      { path: 'etc/', type: 'Directory' },
      { path: 'etc/.wh.victim' },
      { path: 'etc/added', data: 'from the top layer\n' },
      { path: 'opq/', type: 'Directory' },
      { path: 'opq/.wh..wh..opq' },
      { path: 'opq/new', data: 'new\n' },
      { path: 'scratch/', type: 'Directory', mode: 0o1777 },
      { path: 'scratch/shared', data: 'orig\n', mode: 0o666 },
    ]);
    const [top, bottom] = await Promise.all([
      ensureLayer(home, digestOf(topBlob), topBlob, GZ),
      ensureLayer(home, digestOf(baseBlob), baseBlob, GZ),
    ]);
    layers = [top, bottom];
    await backend.recover();
  });

  after(async () => {
    await backend.shutdown();
    assert.deepEqual(mountsUnder(home), []);
    rmSync(home, { recursive: true, force: true });
  });

  test('the sandbox sees the merged view; the root stays read-only; /tmp is writable', async () => {
    const s = spec(
      'cat /etc/added; ls /etc; echo ---; ls /opq; echo ---; id -u; ' +
        'echo t > /tmp/t && cat /tmp/t; touch /scratch/w 2>/dev/null && echo wrote || echo read-only',
    );
    const r = await run(s);
    assert.equal(r.result.outcome, 'ok', r.stderr);
    const [added, etc, opq, rest] = r.stdout
      .split(/^---\n/m)
      .flatMap((x, i) => (i === 0 ? x.split(/(?<=layer\n)/) : [x]));
    assert.equal(added, 'from the top layer\n');
    assert.deepEqual(etc!.trim().split('\n').sort(), ['added', 'group', 'passwd']);
    assert.equal(opq, 'new\n');
    assert.equal(rest, '65534\nt\nread-only\n');
    await gone(s.id);
  });

  test('writable-root opt-in: writes land in the throw-away upper dir, never in a layer', async () => {
    const s = spec(
      'echo w > /scratch/w && echo changed > /scratch/shared && cat /scratch/w /scratch/shared',
      {
        writableRoot: true,
      },
    );
    const r = await run(s);
    assert.equal(r.result.outcome, 'ok', r.stderr);
    assert.equal(r.stdout, 'w\nchanged\n');
    assert.equal(existsSync(join(layers[0]!, 'scratch', 'w')), false);
    assert.equal(readFileSync(join(layers[0]!, 'scratch', 'shared'), 'utf8'), 'orig\n');
    await gone(s.id);
  });

  test('prepared (prewarmed) sandboxes: mounted while waiting, unmounted after start and after destroy', async () => {
    const a = spec('cat /etc/added');
    const pa = await backend.prepare(a);
    assert.equal(mountsUnder(join(sandboxes, a.id)).length, 1, 'the overlay root is mounted while waiting');
    const out: Buffer[] = [];
    const r = await pa.start({
      env: {},
      stdin: Buffer.alloc(0),
      io: { onStdout: (c) => out.push(c), onStderr: () => {} },
      deadline: Date.now() + 10_000,
    });
    assert.equal(r.outcome, 'ok');
    assert.equal(Buffer.concat(out).toString(), 'from the top layer\n');
    await gone(a.id);

    const b = spec('true');
    const pb = await backend.prepare(b);
    await pb.destroy();
    await gone(b.id);
  });

  test('failures leave nothing: a missing layer dir, a missing command', async () => {
    const bad = spec('true', { layers: [join(home, 'no-such-layer'), ...layers] });
    await assert.rejects(
      run(bad),
      (e: unknown) => isAgniError(e) && /cannot mount the overlay root/.test(e.message),
    );
    await gone(bad.id);
    const missing = spec('', { args: ['/no/such/binary'] });
    const r = await run(missing);
    assert.equal(r.result.exitCode, 127);
    await gone(missing.id);
  });

  test('a deadline kill unmounts too', async () => {
    const s = spec('sleep 30', {
      limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 64, timeoutMs: 300 },
    });
    const r = await run(s);
    assert.equal(r.result.outcome, 'timeout');
    await gone(s.id);
  });

  test('recover() after a crash unmounts a leftover overlay root and removes its dir', async () => {
    const crashed = join(sandboxes, 'crashed-overlay');
    const root = await mountOverlayRoot(layers, crashed);
    writeFileSync(join(root.merged, 'tmp', 'left'), 'x');
    assert.equal(mountsUnder(crashed).length, 1);
    const other = new RuncBackend({ home });
    assert.ok((await other.recover()) >= 1);
    assert.deepEqual(mountsUnder(home), []);
    assert.equal(existsSync(crashed), false);
    assert.equal(existsSync(join(layers[1]!, 'tmp', 'left')), false);
  });
});
