import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AgniError } from '../../core/errors.js';
import { parseImageConfig, resolveArgs, resolveEnv, resolveProcess, resolveUser } from './image-config.js';
import { parseGroup, parsePasswd, readImageFile } from './passwd.js';

const img = {
  Entrypoint: ['/entry'],
  Cmd: ['--serve'],
  Env: ['PATH=/usr/bin', 'A=1', 'EQ=x=y'],
  WorkingDir: '/srv',
  User: 'app',
};
const files = {
  passwd: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nbroken line\n',
  group: 'root:x:0:\nstaff:x:50:\napp:x:1001:\n',
};

test('argv follows Docker: entrypoint + cmd, each overridable', () => {
  assert.deepEqual(resolveArgs(img, {}), ['/entry', '--serve']);
  assert.deepEqual(resolveArgs(img, { command: ['--once'] }), ['/entry', '--once']);
  assert.deepEqual(resolveArgs(img, { command: [] }), ['/entry', '--serve'], 'an absent command keeps Cmd');
  assert.deepEqual(
    resolveArgs(img, { entrypoint: ['/other'] }),
    ['/other'],
    'a new entrypoint drops the image Cmd',
  );
  assert.deepEqual(resolveArgs(img, { entrypoint: ['/other'], command: ['x'] }), ['/other', 'x']);
  assert.deepEqual(resolveArgs({ Cmd: ['sh'] }, {}), ['sh']);
  assert.deepEqual(resolveArgs(undefined, { command: ['run'] }), ['run']);
});

test('argv: nothing to run is an error naming `command`', () => {
  const named = (e: unknown) =>
    e instanceof AgniError && e.code === 'manifest_invalid' && /field `command`: required/.test(e.message);
  assert.throws(() => resolveArgs({}, {}), named);
  assert.throws(() => resolveArgs(undefined, { command: [] }), named);
  assert.throws(() => resolveArgs({ Entrypoint: [], Cmd: [] }, {}), /image config has no Entrypoint or Cmd/);
});

test('env: image Env, then agni.yaml env on top', () => {
  assert.deepEqual(resolveEnv(img, { A: '2', B: '3' }), { PATH: '/usr/bin', A: '2', EQ: 'x=y', B: '3' });
  assert.deepEqual(resolveEnv(undefined, { B: '3' }), { B: '3' });
});

test('user: numbers, names via passwd and group; root maps to nobody; unset is nobody', () => {
  assert.deepEqual(resolveUser(undefined), { uid: 65534, gid: 65534 });
  assert.deepEqual(resolveUser('1000', files), { uid: 1000, gid: 1001 }, 'primary group from passwd');
  assert.deepEqual(resolveUser('1234', files), { uid: 1234, gid: 65534 }, 'no passwd entry: group 0, mapped');
  assert.deepEqual(resolveUser('1000:50'), { uid: 1000, gid: 50 });
  assert.deepEqual(resolveUser('app', files), { uid: 1000, gid: 1001 });
  assert.deepEqual(resolveUser('app:staff', files), { uid: 1000, gid: 50 });
  assert.deepEqual(resolveUser('root', files), { uid: 65534, gid: 65534 });
  assert.deepEqual(resolveUser('0:0'), { uid: 65534, gid: 65534 });
  assert.throws(
    () => resolveUser('ghost', files),
    /field `user`: user "ghost" is not in the image's \/etc\/passwd/,
  );
  assert.throws(() => resolveUser('app:ghosts', files), /group "ghosts" is not in the image's \/etc\/group/);
  assert.throws(() => resolveUser('a:b:c'), /expected uid\[:gid\]/);
});

test('resolveProcess: the whole picture, and which field a bad image User is blamed on', () => {
  assert.deepEqual(resolveProcess(img, { env: { A: '9' } }, files, '/fn'), {
    args: ['/entry', '--serve'],
    env: { PATH: '/usr/bin', A: '9', EQ: 'x=y' },
    cwd: '/srv',
    uid: 1000,
    gid: 1001,
  });
  const o = resolveProcess({ Cmd: ['x'] }, { workdir: '/w', user: '7:8' }, {}, '/fn');
  assert.deepEqual([o.cwd, o.uid, o.gid], ['/w', 7, 8]);
  assert.equal(resolveProcess({ Cmd: ['x'] }, {}, {}, '/fn').cwd, '/fn');
  assert.throws(
    () => resolveProcess({ Cmd: ['x'], User: 'ghost' }, {}, files),
    /field `runtime \(image config User\)`/,
  );
});

test('parseImageConfig is lenient about nulls and junk', () => {
  assert.deepEqual(
    parseImageConfig({ config: { Entrypoint: null, Cmd: ['a'], Env: [1], WorkingDir: '', User: 'u' } }),
    {
      Cmd: ['a'],
      User: 'u',
    },
  );
  assert.deepEqual(parseImageConfig(null), {});
  assert.deepEqual(parseImageConfig({ architecture: 'amd64' }), {});
});

test('passwd/group parsing and reading through layers (top first, whiteouts and links hide)', async () => {
  assert.deepEqual(parsePasswd(files.passwd)[1], { name: 'app', uid: 1000, gid: 1001 });
  assert.equal(parsePasswd(files.passwd).length, 2);
  assert.deepEqual(parseGroup(files.group)[1], { name: 'staff', gid: 50 });
  const d = mkdtempSync(join(tmpdir(), 'agni-passwd-'));
  try {
    for (const l of ['top', 'mid', 'base']) mkdirSync(join(d, l, 'etc'), { recursive: true });
    writeFileSync(join(d, 'base', 'etc', 'passwd'), 'base\n');
    writeFileSync(join(d, 'mid', 'etc', 'passwd'), 'mid\n');
    const layers = ['top', 'mid', 'base'].map((l) => join(d, l));
    assert.equal(await readImageFile(layers, 'etc/passwd'), 'mid\n');
    symlinkSync('/etc/passwd', join(d, 'top', 'etc', 'passwd'));
    assert.equal(
      await readImageFile(layers, 'etc/passwd'),
      undefined,
      'a symlink is not followed on the host',
    );
    assert.equal(await readImageFile(layers, 'etc/group'), undefined);
    // A symlinked parent (`etc -> /etc`) is not followed either: it would read the host's file.
    const linked = join(d, 'linked');
    mkdirSync(linked);
    symlinkSync('/etc', join(linked, 'etc'));
    assert.equal(await readImageFile([linked, join(d, 'base')], 'etc/passwd'), undefined);
    assert.equal(await readImageFile([join(d, 'none'), join(d, 'base')], 'etc/passwd'), 'base\n');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
