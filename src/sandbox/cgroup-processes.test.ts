import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CgroupProcesses } from './cgroup-processes.js';
import { cgroupProcsFile } from './cgroups.js';

const dir = mkdtempSync(join(tmpdir(), 'agni-cgprocs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const starttime = (pid: number) => {
  const t = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return t.slice(t.lastIndexOf(')') + 2).split(' ')[19];
};
const openFds = () => readdirSync('/proc/self/fd').length;

test('cgroup processes: identities of the listed pids that run, read again through open files', async () => {
  // A file in cgroup.procs' format stands for the leaf; the processes are real, so is /proc.
  const procs = join(dir, 'cgroup.procs');
  const a = spawn('sleep', ['30'], { stdio: 'ignore' });
  const b = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    writeFileSync(procs, `${a.pid}\n${b.pid}\n`);
    const r = new CgroupProcesses(procs);
    const want = [`${a.pid}:${starttime(a.pid!)}`, `${b.pid}:${starttime(b.pid!)}`];
    assert.deepEqual(r.identities().sort(), want.sort());
    const fds = openFds();
    for (let i = 0; i < 50; i++) assert.deepEqual(r.identities().sort(), want.sort());
    assert.equal(openFds(), fds, 'no file opened per read');

    // A process that exits is gone even while its pid is still listed (as a reused pid would be).
    const gone = new Promise((res) => b.once('exit', res));
    b.kill('SIGKILL');
    await gone;
    assert.deepEqual(r.identities(), [`${a.pid}:${starttime(a.pid!)}`]);

    // A pid no longer listed: its file is closed.
    writeFileSync(procs, '');
    assert.deepEqual(r.identities(), []);
    assert.equal(openFds(), fds - 2, 'both stat files closed');
    r.close();
    assert.throws(() => r.identities(), /gone/);
  } finally {
    a.kill('SIGKILL');
    b.kill('SIGKILL');
  }
});

test('cgroup processes: an unreadable leaf throws (nobody can say what the sandbox holds)', () => {
  const r = new CgroupProcesses(join(dir, 'no-such-leaf', 'cgroup.procs'));
  assert.throws(() => r.identities(), /ENOENT/);
});

test('cgroup processes: a process that joins the real leaf shows at once (cgroup v1 caches a pid list per open file)', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to make a cgroup');
  const prefix = `agni-cgtest-${process.pid}`;
  const file = cgroupProcsFile('leaf', prefix);
  const leaf = dirname(file);
  mkdirSync(leaf, { recursive: true });
  const a = spawn('sleep', ['30'], { stdio: 'ignore' });
  const b = spawn('sleep', ['30'], { stdio: 'ignore' });
  const r = new CgroupProcesses(file);
  try {
    writeFileSync(file, String(a.pid));
    assert.deepEqual(r.identities(), [`${a.pid}:${starttime(a.pid!)}`]);
    writeFileSync(file, String(b.pid)); // a call leaves a process behind, within the second
    assert.equal(r.identities().length, 2, 'the newcomer is seen');
  } finally {
    r.close();
    for (const p of [a, b]) {
      const exited = new Promise((res) => p.once('exit', res));
      p.kill('SIGKILL');
      await exited;
    }
    for (const d of [leaf, dirname(leaf)])
      for (let i = 0; i < 50 && existsSync(d); i++) {
        rmdirQuiet(d);
        if (existsSync(d)) await sleep(20);
      }
  }
});

function rmdirQuiet(d: string): void {
  try {
    rmdirSync(d);
  } catch {
    // the killed processes are still leaving the leaf
  }
}

test('cgroup processes: past 16 processes the rest are read afresh, not kept open', async () => {
  const procs = join(dir, 'many.procs');
  const kids = Array.from({ length: 20 }, () => spawn('sleep', ['30'], { stdio: 'ignore' }));
  try {
    writeFileSync(procs, kids.map((k) => `${k.pid}\n`).join(''));
    const r = new CgroupProcesses(procs);
    const fds = openFds();
    assert.equal(r.identities().length, 20);
    assert.equal(openFds(), fds + 16);
    assert.equal(r.identities().length, 20);
    assert.equal(openFds(), fds + 16);
    r.close();
    assert.equal(openFds(), fds);
  } finally {
    for (const k of kids) k.kill('SIGKILL');
  }
});
