import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { type RootView, workdirProblem } from './workdir.js';

// A root with links of every kind, a code dir bound at /fn and a host dir bound at /usr.
const top = tempDir('agni-workdir-');
const root = join(top, 'root');
const code = join(top, 'code');
const usr = join(top, 'usr');
for (const d of [root, join(root, 'etc'), join(root, 'srv'), join(code, 'sub'), join(usr, 'lib')])
  mkdirSync(d, { recursive: true });
writeFileSync(join(root, 'etc', 'passwd'), '');
symlinkSync('usr/lib', join(root, 'lib')); // merged-usr style, relative
symlinkSync('/srv', join(root, 'abs')); // absolute: resolves in the root
symlinkSync('/var', join(root, 'host-link')); // exists on the host, not in the root: never followed there
symlinkSync('loop', join(root, 'loop'));
symlinkSync('../../../..', join(root, 'srv', 'up'));
const view: RootView = {
  root,
  binds: [
    { source: code, destination: '/fn' },
    { source: usr, destination: '/usr' },
  ],
};

test('existing dirs on the root, in binds and through links are fine', async () => {
  for (const p of [
    '/',
    '/etc',
    '/srv/',
    '/fn',
    '/fn/sub',
    '/usr/lib',
    '/lib',
    '/abs',
    '/srv/up/etc',
    '/fn/../etc',
  ])
    assert.equal(await workdirProblem(p, view), undefined, p);
});

test('missing dirs on a shared root are refused, also behind links', async () => {
  for (const p of ['/newdir', '/etc/x/y', '/fn/missing', '/usr/nope', '/lib/nope', '/abs/nope'])
    assert.match((await workdirProblem(p, view)) ?? '', /does not exist/, p);
  // the link's target exists on the host but not in the sandbox's root: resolved chroot-style
  assert.match((await workdirProblem('/host-link', view)) ?? '', /does not exist/);
  assert.match((await workdirProblem('/etc/passwd', view)) ?? '', /not a directory/);
  assert.match((await workdirProblem('/loop', view)) ?? '', /too many symbolic links/);
  // runc's MkdirAll resolves `..` after /tmp: back on the shared root
  assert.match((await workdirProblem('/tmp/../newdir', view)) ?? '', /\/newdir does not exist/);
  assert.match((await workdirProblem('/tmp/a/b/../../../proc', view)) ?? '', /kernel filesystem/);
  assert.equal(await workdirProblem('/tmp/a/../../etc', view), undefined);
});

test('kernel filesystems are refused, /tmp is per sandbox and fine', async () => {
  for (const p of ['/proc', '/proc/1/cwd', '/sys', '/dev/shm', '/srv/up/proc'])
    assert.match((await workdirProblem(p, view)) ?? '', /kernel filesystem/, p);
  assert.equal(await workdirProblem('/tmp/any/depth', view), undefined);
  assert.match((await workdirProblem('/procfs', view)) ?? '', /does not exist/, 'a prefix is not a parent');
});

test('an overlay root (undefined) may make what is missing, but not under /fn or /proc', async () => {
  const overlay: RootView = { root: undefined, binds: [{ source: code, destination: '/fn' }] };
  assert.equal(await workdirProblem('/app/data', overlay), undefined);
  assert.match((await workdirProblem('/fn/missing', overlay)) ?? '', /does not exist/);
  assert.match((await workdirProblem('/proc', overlay)) ?? '', /kernel filesystem/);
  assert.match((await workdirProblem('/app/../fn/missing', overlay)) ?? '', /does not exist/);
});
