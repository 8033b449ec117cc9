/**
 * Volumes end to end (real embedded server, real runc): named host directories mounted where
 * agni.yaml says, read-only unless both the operator and the manifest say rw, in fresh, prewarmed
 * and warm sandboxes; an unknown volume refused at deploy; no mount left behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

let s: TestServer;
const root = mkdtempSync(join(tmpdir(), 'agni-vol-'));
const data = join(root, 'data');
const scratch = join(root, 'scratch');
const locked = join(root, 'locked');
/** a filesystem mounted below a read-only volume: must be read-only through it too (rro) */
const sub = join(data, 'sub');
let subMounted = false;

async function deploy(files: Record<string, string>): Promise<Response> {
  return fetch(`${s.url}/v1/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: new Uint8Array(await tarOf(fnDir(files))),
  });
}

async function deployOk(files: Record<string, string>): Promise<void> {
  const r = await deploy(files);
  assert.equal(r.status, 201, await r.text());
}

async function invoke(name: string, body = ''): Promise<{ status: number; text: string }> {
  const r = await fetch(`${s.url}/v1/functions/${name}/invoke`, { method: 'POST', body });
  return { status: r.status, text: await r.text() };
}

const yaml = (name: string, command: string, extra: string) =>
  `name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\n${extra}`;

/** reads a file from the volume, then tries to write beside it: prints what happened */
const PROBE =
  'cat /mnt/in.txt; if echo x 2>/tmp/e >/mnt/out-$AGNI_FUNCTION; then echo wrote; else cat /tmp/e; fi';

function agniMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(root) || l.includes(s.home));
}

describe('volumes (runc)', () => {
  before(async () => {
    for (const d of [data, scratch, locked]) mkdirSync(d, { recursive: true });
    writeFileSync(join(data, 'in.txt'), 'from data\n');
    writeFileSync(join(scratch, 'in.txt'), 'from scratch\n');
    writeFileSync(join(locked, 'in.txt'), 'from locked\n');
    // the sandbox runs as 65534: let it write where the directory's permissions alone would allow
    for (const d of [data, scratch, locked]) chmodSync(d, 0o777);
    mkdirSync(sub);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=1777', 'agni-vol-test', sub]);
    subMounted = true;
    s = await startTestServer({
      volumes: [
        { name: 'data', hostPath: data, mode: 'ro' },
        { name: 'scratch', hostPath: scratch, mode: 'rw' },
        { name: 'locked', hostPath: locked, mode: 'ro' },
      ],
    });
  });

  after(async () => {
    await s?.close();
    if (subMounted) execFileSync('umount', [sub]);
    rmSync(root, { recursive: true, force: true });
  });

  test('a read-only volume: readable, a write fails with EROFS (also on a filesystem mounted below it)', async () => {
    await deployOk({
      'agni.yaml': yaml(
        'vol-ro',
        `${PROBE}; touch /mnt/sub/x 2>&1 || echo sub-refused`,
        'volumes: [{name: data, path: /mnt}]\npool: {max: 0}\n',
      ),
    });
    const r = await invoke('vol-ro');
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /from data/);
    assert.match(r.text, /Read-only file system/);
    assert.doesNotMatch(r.text, /wrote/);
    assert.match(r.text, /sub-refused/);
    assert.equal(existsSync(join(data, 'out-vol-ro')), false);
    assert.equal(existsSync(join(sub, 'x')), false);
  });

  test('rw only when both say so: operator rw + manifest rw writes; either one ro does not', async () => {
    await deployOk({
      'agni.yaml': yaml(
        'vol-rw',
        PROBE,
        'volumes: [{name: scratch, path: /mnt, mode: rw}]\npool: {max: 0}\n',
      ),
    });
    const rw = await invoke('vol-rw');
    assert.match(rw.text, /from scratch\nwrote/);
    assert.equal(readFileSync(join(scratch, 'out-vol-rw'), 'utf8'), 'x\n');

    await deployOk({
      'agni.yaml': yaml(
        'vol-asks',
        PROBE,
        'volumes: [{name: locked, path: /mnt, mode: rw}]\npool: {max: 0}\n',
      ),
    });
    const asks = await invoke('vol-asks');
    assert.match(asks.text, /from locked\n.*Read-only file system/s);
    assert.equal(existsSync(join(locked, 'out-vol-asks')), false);

    await deployOk({
      'agni.yaml': yaml('vol-default', PROBE, 'volumes: [{name: scratch, path: /mnt}]\npool: {max: 0}\n'),
    });
    const dflt = await invoke('vol-default');
    assert.match(dflt.text, /from scratch\n.*Read-only file system/s);
    assert.equal(existsSync(join(scratch, 'out-vol-default')), false);
  });

  test('an unknown volume is refused at deploy, naming the field and the volumes that exist', async () => {
    const r = await deploy({
      'agni.yaml': yaml(
        'vol-unknown',
        'true',
        'volumes: [{name: data, path: /mnt}, {name: nope, path: /w}]\n',
      ),
    });
    assert.equal(r.status, 400);
    const body = (await r.json()) as { error: { message: string } };
    assert.match(body.error.message, /`volumes\[1\]\.name`: no volume "nope"/);
    assert.match(body.error.message, /volumes that exist: data, locked, scratch/);
    assert.equal((await fetch(`${s.url}/v1/functions/vol-unknown`)).status, 404);
  });

  test('a mount point missing from a shared root is refused, not made there', async () => {
    await deployOk({
      'agni.yaml': yaml('vol-nowhere', 'true', 'volumes: [{name: data, path: /nowhere}]\npool: {max: 0}\n'),
    });
    const r = await invoke('vol-nowhere');
    assert.equal(r.status, 400, r.text);
    assert.match(r.text, /volumes\[0\]\.path.*\/nowhere/);
    assert.equal(existsSync(join(s.home, 'host-rootfs', 'nowhere')), false);
    // under /tmp (the sandbox's own tmpfs) any path will do
    await deployOk({
      'agni.yaml': yaml(
        'vol-tmp',
        'cat /tmp/in/in.txt',
        'volumes: [{name: data, path: /tmp/in}]\npool: {max: 0}\n',
      ),
    });
    assert.equal((await invoke('vol-tmp')).text, 'from data\n');
  });

  test('prewarmed sandboxes see the volume', async () => {
    await deployOk({
      'agni.yaml': yaml(
        'vol-pool',
        PROBE,
        'volumes: [{name: data, path: /data}]\npool: {min: 1, max: 2}\n',
      ).replaceAll('/mnt/', '/data/'),
    });
    for (let i = 0; i < 3; i++) {
      const r = await invoke('vol-pool');
      assert.equal(r.status, 200, r.text);
      assert.match(r.text, /from data\n.*Read-only file system/s);
    }
  });

  test('warm workers see the volume (read-only)', async () => {
    const sh = `. "$AGNI_RUNTIMES/shell/agni-warm.sh"
handle() {
  cat /srv/in.txt
  if echo x > /srv/out-warm 2>/dev/null; then echo wrote; else echo refused; fi
}
agni_serve handle
`;
    await deployOk({
      'agni.yaml':
        'name: vol-warm\nruntime: host\ncommand: ["/bin/sh", "/fn/w.sh"]\nlifecycle: warm\nvolumes: [{name: data, path: /srv}]\n',
      'w.sh': sh,
    });
    for (let i = 0; i < 2; i++) {
      const r = await invoke('vol-warm');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, 'from data\nrefused\n');
    }
  });

  test('nothing mounted is left once the sandboxes are gone', async () => {
    for (const fn of [
      'vol-ro',
      'vol-rw',
      'vol-asks',
      'vol-default',
      'vol-nowhere',
      'vol-tmp',
      'vol-pool',
      'vol-warm',
    ])
      await fetch(`${s.url}/v1/functions/${fn}`, { method: 'DELETE' });
    // only the test's own tmpfs below the data dir remains
    const deadline = Date.now() + 30_000;
    let left = agniMounts();
    while (left.some((l) => !l.includes(sub)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      left = agniMounts();
    }
    assert.deepEqual(
      left.filter((l) => !l.includes(sub)),
      [],
    );
  });
});
