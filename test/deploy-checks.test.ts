/**
 * agni.yaml values that used to be accepted and then broke every call, or changed what other
 * functions see, are refused at deploy with a 4xx naming the field, and nothing is recorded:
 * `workdir` on a shared root (the host runtime's skeleton, an imported image), `user` ids and
 * unknown names, NUL in env values, durations longer than a timer can hold.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isAgniError } from '../src/core/errors.js';
import { RuncBackend } from '../src/sandbox/runc-backend.js';
import { makeBusyboxRootfs } from './helpers/busybox-rootfs.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { tarOf } from './helpers/tarball.js';
import { tempDir } from './helpers/tmp.js';

let s: TestServer;
let seq = 0;

interface Answer {
  status: number;
  body: { error?: { code: string; message: string; details?: { field?: string } } };
}

/** Deploys a dir with agni.yaml, a `sub/` dir, and what `extra` adds to it. */
async function deploy(yaml: string, extra: (dir: string) => void = () => {}): Promise<Answer> {
  const dir = mkdtempSync(join(tmpdir(), 'agni-fn-'));
  writeFileSync(join(dir, 'agni.yaml'), yaml);
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'f'), 'x');
  try {
    extra(dir);
    const r = await fetch(`${s.url}/v1/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(await tarOf(dir)),
    });
    return { status: r.status, body: (await r.json()) as Answer['body'] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fn = (runtime: string, extra: string, command = 'pwd; id -u') =>
  `name: f${seq++}\nruntime: ${runtime}\ncommand: ${JSON.stringify(command)}\n${extra}\n`;

async function invoke(name: string): Promise<string> {
  const r = await fetch(`${s.url}/v1/functions/${name}/invoke`, { method: 'POST', body: '' });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return text;
}

/** A refused deploy: 4xx manifest_invalid naming `field`, and no function, version or staging dir left. */
async function refused(a: Answer, field: string, message?: RegExp): Promise<void> {
  assert.equal(a.status, 400, JSON.stringify(a.body));
  assert.equal(a.body.error?.code, 'manifest_invalid');
  assert.match(a.body.error?.message ?? '', new RegExp(`field \`${field.replace('.', '\\.')}\``));
  if (message) assert.match(a.body.error?.message ?? '', message);
  assert.doesNotMatch(a.body.error?.message ?? '', new RegExp(s.home), 'no host path in an answer');
  const list = (await (await fetch(`${s.url}/v1/functions`)).json()) as { functions: unknown[] };
  assert.deepEqual(list.functions, [], 'nothing recorded');
  assert.deepEqual(readdirSync(join(s.home, 'functions', '.staging')), [], 'no staging dir left');
}

describe('deploy checks', () => {
  let skeleton: string;
  before(async () => {
    s = await startTestServer();
    skeleton = join(s.home, 'host-rootfs');
  });
  after(async () => {
    await s?.close();
  });

  describe('workdir on the host runtime', () => {
    test('a missing dir on the shared skeleton is refused and not created', async () => {
      await refused(await deploy(fn('host', 'workdir: /newdir')), 'workdir', /\/newdir does not exist/);
      await refused(await deploy(fn('host', 'workdir: /etc/newdir/deeper')), 'workdir');
      await refused(await deploy(fn('host', 'workdir: /usr/no-such-dir')), 'workdir');
      await refused(
        await deploy(fn('host', 'workdir: /tmp/../newdir')),
        'workdir',
        /\/newdir does not exist/,
      );
      assert.ok(existsSync(join(skeleton, 'etc')), 'the skeleton was made for the check');
      assert.ok(!existsSync(join(skeleton, 'newdir')));
      assert.ok(!existsSync(join(skeleton, 'etc', 'newdir')));
    });

    test('/proc, /sys and /dev are refused', async () => {
      for (const dir of ['/proc', '/proc/self', '/sys/fs', '/dev', '/dev/shm/x'])
        await refused(await deploy(fn('host', `workdir: ${dir}`)), 'workdir', /kernel filesystem/);
    });

    test('under /fn it must exist in the uploaded dir; symlinks resolve inside the sandbox', async () => {
      await refused(await deploy(fn('host', 'workdir: /fn/missing')), 'workdir');
      await refused(await deploy(fn('host', 'workdir: /fn/sub/f')), 'workdir', /not a directory/);
      // (a link escaping the upload is refused by the unpacker; links on a root are in workdir.test.ts)
      const linked = fn('host', 'workdir: /fn/link');
      assert.equal((await deploy(linked, (d) => symlinkSync('sub', join(d, 'link')))).status, 201);
      assert.equal(
        await invoke(linked.split('\n')[0]!.slice(6)),
        '/fn/sub\n65534\n',
        'the link resolved inside /fn',
      );
      const ok = fn('host', 'workdir: /fn/sub');
      assert.equal((await deploy(ok)).status, 201);
      assert.equal(await invoke(ok.split('\n')[0]!.slice(6)), '/fn/sub\n65534\n');
    });

    test('an existing host dir (/usr/lib, through the /lib link too) and /tmp work', async () => {
      for (const [dir, pwd] of [
        ['/usr/lib', '/usr/lib'],
        ['/fn/../usr', '/usr'],
        ['/tmp/made/here', '/tmp/made/here'],
      ]) {
        const m = fn('host', `workdir: ${dir}`);
        const a = await deploy(m);
        assert.equal(a.status, 201, JSON.stringify(a.body));
        assert.equal((await invoke(m.split('\n')[0]!.slice(6))).split('\n')[0], pwd);
      }
      for (const name of readdirSync(join(s.home, 'functions'))) {
        if (name.startsWith('.')) continue;
        assert.equal((await fetch(`${s.url}/v1/functions/${name}`, { method: 'DELETE' })).status, 200);
      }
    });
  });

  describe('workdir and user on an imported image', () => {
    const remove = async (m: string) =>
      assert.equal(
        (await fetch(`${s.url}/v1/functions/${m.split('\n')[0]!.slice(6)}`, { method: 'DELETE' })).status,
        200,
      );
    let layer: string;
    before(async () => {
      const src = makeBusyboxRootfs(join(s.home, 'bb-src'));
      const up = await fetch(`${s.url}/v1/images/bb`, {
        method: 'POST',
        headers: { 'content-type': 'application/gzip' },
        body: new Uint8Array(await tarOf(src)),
      });
      assert.equal(up.status, 201);
      // An imported image is an OCI image: its one layer is unpacked at the first deploy on it.
      const first = fn('bb', 'workdir: /bin');
      assert.equal((await deploy(first)).status, 201);
      const [hex] = readdirSync(join(s.home, 'content', 'layers')).filter((n) => /^[0-9a-f]{64}$/.test(n));
      layer = join(s.home, 'content', 'layers', hex!);
      assert.ok(existsSync(join(layer, 'bin', 'busybox')));
      assert.equal((await invoke(first.split('\n')[0]!.slice(6))).split('\n')[0], '/bin');
      await remove(first);
    });

    test('a missing dir is made on the sandbox overlay, never in the image; /proc refused', async () => {
      const m = fn('bb', 'workdir: /newdir');
      assert.equal((await deploy(m)).status, 201);
      assert.equal((await invoke(m.split('\n')[0]!.slice(6))).split('\n')[0], '/newdir');
      assert.ok(!existsSync(join(layer, 'newdir')), 'the unpacked layer is untouched');
      await remove(m);
      await refused(await deploy(fn('bb', 'workdir: /proc/1')), 'workdir');
    });

    test('user names come from its /etc/passwd, checked at deploy', async () => {
      await refused(await deploy(fn('bb', 'user: bob')), 'user', /no user named "bob".* it has root, nobody/);
      await refused(await deploy(fn('bb', 'user: "nobody:wheel"')), 'user', /no group named "wheel"/);
    });
  });

  test('user: bad ids and unknown names on the host runtime are refused; nobody works', async () => {
    for (const bad of ['"-1"', '4294967295', '"4294967295"', '"0:2147483648"'])
      await refused(await deploy(fn('host', `user: ${bad}`)), 'user', /2147483647/);
    await refused(
      await deploy(fn('host', 'user: bob')),
      'user',
      /no user named "bob" in the host runtime's \/etc\/passwd; it has root, nobody/,
    );
    const m = fn('host', 'user: "nobody:nogroup"', 'id -u; id -g');
    const a = await deploy(m);
    assert.equal(a.status, 201, JSON.stringify(a.body));
    const name = m.split('\n')[0]!.slice(6);
    assert.equal(await invoke(name), '65534\n65534\n');
    assert.equal((await fetch(`${s.url}/v1/functions/${name}`, { method: 'DELETE' })).status, 200);
  });

  test('env with NUL and durations longer than a timer are refused naming the field', async () => {
    await refused(await deploy(fn('host', 'env: {GOOD: "1", BAD: "a\\0b"}')), 'env.BAD', /NUL/);
    await refused(await deploy(fn('host', 'limits: {timeout: 600h}')), 'limits.timeout', /2147483647 ms/);
    await refused(await deploy(fn('host', 'pool: {idle: 9999h}')), 'pool.idle', /2147483647 ms/);
    await refused(await deploy(fn('host', 'backoff: {max: 9999h}')), 'backoff.max', /2147483647 ms/);
  });

  test('defence in depth: the runc backend never hands runc a missing cwd on a shared root', async () => {
    const home = tempDir('agni-cwd-');
    const backend = new RuncBackend({ home });
    const code = tempDir('agni-code-');
    const run = (cwd: string) =>
      backend.run(
        {
          id: `cwd-${process.pid}-${seq++}`,
          rootfs: '',
          hostRuntime: true,
          codeDir: code,
          args: ['/bin/true'],
          env: {},
          cwd,
          limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 16, timeoutMs: 10_000 },
          network: 'none',
        },
        { stdin: Buffer.alloc(0), onStdout() {}, onStderr() {} },
      );
    try {
      await assert.rejects(run('/made-by-runc'), (e) => isAgniError(e) && e.code === 'manifest_invalid');
      assert.ok(!existsSync(join(home, 'host-rootfs', 'made-by-runc')));
      assert.equal((await run('/fn')).outcome, 'ok');
    } finally {
      await backend.shutdown();
    }
  });
});
