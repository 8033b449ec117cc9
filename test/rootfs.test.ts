/**
 * Real root filesystems and function directories through the real CLI and a real `agni up`: a
 * debootstrap minbase (hundreds of symlinks, absolute ones among them) imported and run, a Python
 * venv (`bin/python3 -> /usr/bin/python3`) deployed and run, a rootfs directory with devices, a
 * Node function with its node_modules, `.agniignore`, and hostile tars that must touch nothing
 * outside the directory they unpack into.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { list } from 'tar';
import { type AgniUp, runCli, spawnAgniUp } from './helpers/agni-up.js';
import { makeBusyboxRootfs } from './helpers/busybox-rootfs.js';
import { writeLayer } from './helpers/layer-tar.js';
import { fnDir } from './helpers/tarball.js';
import { tempDir } from './helpers/tmp.js';

const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
const DEBIAN = `/var/cache/agni/debian-bookworm-minbase-${arch}.tar.gz`;

/** Absolute symlink targets in a tarball: the host paths a careless unpack would touch. */
async function absoluteTargets(file: string): Promise<string[]> {
  const out: string[] = [];
  await list({
    file,
    onReadEntry: (e) => {
      if (e.type === 'SymbolicLink' && e.linkpath?.startsWith('/')) out.push(e.linkpath);
    },
  });
  return out;
}

/** ctime of each path that exists on the host (a chmod, chown or write through a link changes it) */
function ctimes(paths: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of paths) if (existsSync(p)) m.set(p, lstatSync(p).ctimeMs);
  return m;
}

describe('real root filesystems and function directories', () => {
  const home = tempDir('agni-rootfs-');
  let up: AgniUp;
  const agni = (...args: string[]) => runCli(up.url, args);
  const ok = async (...args: string[]) => {
    const r = await agni(...args);
    assert.equal(r.code, 0, `agni ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  /** what an import leaves on disk besides the content store: nothing once it ended */
  const images = () =>
    ['images', 'build'].flatMap((d) => (existsSync(join(home, d)) ? readdirSync(join(home, d)).sort() : []));

  before(async () => {
    up = await spawnAgniUp(home);
  });
  // A clean stop: SIGKILL left the prewarmed sandboxes' overlays mounted under the test's home.
  after(async () => {
    if (up?.p.exitCode !== null || up.p.signalCode !== null) return;
    const exited = new Promise((r) => up.p.once('exit', r));
    up.p.kill('SIGTERM');
    const force = setTimeout(() => up.p.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(force);
  });

  test('a debootstrap minbase imports through the CLI and runs, absolute symlinks resolved in the sandbox', async () => {
    assert.ok(
      existsSync(DEBIAN),
      `${DEBIAN} is missing: run scripts/setup.sh (scripts/fetch-debian-rootfs.sh)`,
    );
    const targets = await absoluteTargets(DEBIAN);
    assert.ok(targets.length > 10, 'a minbase has absolute symlinks');
    const before = ctimes(targets);
    const out = await ok('image', 'import', 'debian', DEBIAN);
    assert.match(out, /imported debian \(oci:sha256:[0-9a-f]{64}\): \d+ files/);
    assert.deepEqual(ctimes(targets), before, 'no host file named by an absolute symlink was touched');

    const dir = fnDir({
      'agni.yaml': [
        'name: deb',
        'runtime: debian',
        // awk -> /etc/alternatives/awk -> /usr/bin/mawk; /fn/env -> /usr/bin/env
        `command: [/bin/sh, -c, 'cat /etc/debian_version; awk "BEGIN { print \\"awk ok\\" }"; /fn/env | grep -c AGNI_FUNCTION=deb']`,
        '',
      ].join('\n'),
    });
    symlinkSync('/usr/bin/env', join(dir, 'env'));
    await ok('deploy', dir);
    const r = await ok('invoke', 'deb');
    assert.match(r, /^12\.\d+\nawk ok\n1\n$/);
  });

  test('a Python venv deploys with `runtime: host` and runs through its absolute-symlinked interpreter', async () => {
    const dir = fnDir({
      'agni.yaml':
        'name: venv\nruntime: host\ncommand: [/fn/venv/bin/python3, -c, "import sys; print(sys.prefix)"]\n',
    });
    // --without-pip needs only the standard library (no python3-venv's ensurepip).
    execFileSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', join(dir, 'venv')]);
    assert.equal(readlinkSync(join(dir, 'venv/bin/python3')), '/usr/bin/python3');
    const d = await agni('deploy', dir);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stderr, '', 'no tar warnings');
    assert.equal(await ok('invoke', 'venv'), '/fn/venv\n');
  });

  test('a rootfs directory with devices, a FIFO and absolute symlinks imports (symlinks kept, devices left out)', {
    timeout: 60_000,
  }, async () => {
    const root = makeBusyboxRootfs(tempDir('agni-rootfs-dir-'));
    mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
    symlinkSync('/bin/busybox', join(root, 'usr', 'bin', 'echo')); // busybox runs the applet its name says
    execFileSync('mknod', [join(root, 'dev', 'null'), 'c', '1', '3']);
    execFileSync('mkfifo', [join(root, 'fifo')]);
    const r = await agni('image', 'import', 'bbdir', root);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    await ok(
      'deploy',
      fnDir({ 'agni.yaml': 'name: bbdir\nruntime: bbdir\ncommand: [/usr/bin/echo, via abs]\n' }),
    );
    assert.equal(await ok('invoke', 'bbdir'), 'via abs\n');
  });

  test('hostile rootfs tars are refused naming the entry, and nothing outside is touched', async () => {
    // The tars beside the canary, not in it.
    const around = tempDir('agni-canary-');
    const canary = join(around, 'canary');
    mkdirSync(canary);
    chmodSync(canary, 0o700);
    const imagesBefore = images();
    const tgz = writeLayer(join(around, 'evil.tgz'), [
      { path: 'bin/', type: 'Directory' },
      { path: 'etc', type: 'SymbolicLink', linkpath: canary },
      { path: 'etc/x', data: 'pwned' },
    ]);
    const r = await agni('image', 'import', 'evil', tgz);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /entry "etc\/x" would be written through symlink "etc"/);
    assert.deepEqual(readdirSync(canary), []);
    assert.deepEqual(images(), imagesBefore, 'no stray image or staging dir');
    // `tmp` a symlink out: the import's own chmod of /tmp (1777 for runc) must not follow it.
    const tmpLink = writeLayer(join(around, 'tmp.tgz'), [
      { path: 'bin/sh', data: '#!/bin/false\n', mode: 0o755 },
      { path: 'bin/ls', data: '#!/bin/false\n', mode: 0o755 },
      { path: 'tmp', type: 'SymbolicLink', linkpath: canary },
    ]);
    await ok('image', 'import', 'tmplink', tmpLink);
    assert.equal(statSync(canary).mode & 0o7777, 0o700, 'the host dir behind `tmp` keeps its mode');
    // Nor the runc backend's, before each sandbox (runc copies the mountpoint's mode onto the tmpfs).
    await ok('deploy', fnDir({ 'agni.yaml': 'name: tmplink\nruntime: tmplink\ncommand: [/bin/sh]\n' }));
    await agni('invoke', 'tmplink');
    assert.equal(statSync(canary).mode & 0o7777, 0o700, 'a sandbox start leaves it alone too');
  });

  test('a Node function runs with its node_modules; .agniignore and the defaults drop the rest, and say so', async () => {
    const dir = fnDir({
      'agni.yaml': 'name: nodefn\nruntime: host\ncommand: [node, /fn/main.mjs]\n',
      'main.mjs':
        "import { shout } from 'tiny';\nimport { existsSync } from 'node:fs';\nconsole.log(shout('hi'), existsSync('/fn/data'), existsSync('/fn/.git'), existsSync('/fn/keep.txt'));\n",
      '.agniignore': '# big inputs stay home\ndata/\n',
      'keep.txt': 'kept',
    });
    mkdirSync(join(dir, 'node_modules', 'tiny'), { recursive: true });
    writeFileSync(
      join(dir, 'node_modules', 'tiny', 'package.json'),
      '{"name":"tiny","type":"module","main":"index.js"}',
    );
    writeFileSync(
      join(dir, 'node_modules', 'tiny', 'index.js'),
      'export const shout = (s) => s.toUpperCase();\n',
    );
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'big.csv'), 'x\n');
    mkdirSync(join(dir, '.git'));
    writeFileSync(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    mkdirSync(join(dir, '__pycache__'));
    const d = await ok('deploy', dir);
    assert.match(
      d,
      /^skipped 3 \(\.agniignore and the defaults\): \.git\/, __pycache__\/, data\/\ndeployed nodefn version 1/,
    );
    assert.equal(await ok('invoke', 'nodefn'), 'HI false false true\n');
    const j = JSON.parse(await ok('deploy', dir, '--json')) as { version: number; skipped: string[] };
    assert.deepEqual(j.skipped, ['.git/', '__pycache__/', 'data/']);
    // `!` takes a default back.
    writeFileSync(join(dir, '.agniignore'), 'data/\n!.git/\n');
    const k = JSON.parse(await ok('deploy', dir, '--json')) as { skipped: string[] };
    assert.deepEqual(k.skipped, ['__pycache__/', 'data/']);
    assert.equal(await ok('invoke', 'nodefn'), 'HI false true true\n');
  });
});
