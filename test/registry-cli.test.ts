/** `agni login`, `agni image pull/push` through a real server against a real htpasswd registry. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ContentStore } from '../src/image/oci/content-store.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { runCli } from './helpers/agni-up.js';
import {
  type BuiltImage,
  busyboxLayer,
  startRegistry,
  storeImage,
  type TestRegistry,
} from './helpers/registry.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('agni login / image pull / image push', () => {
  const creds = { username: 'alice', password: 'pw-Very-s3cret' };
  const scratch = mkdtempSync(join(tmpdir(), 'agni-regcli-'));
  let reg: TestRegistry;
  let s: TestServer;
  let img: BuiltImage;

  const agni = (args: string[], input?: string) => runCli(s.url, args, input);

  before(async () => {
    // The server must not find the developer's own Docker credentials.
    process.env.DOCKER_CONFIG = join(scratch, 'docker');
    reg = await startRegistry(creds);
    const src = new ContentStore(join(scratch, 'src'));
    img = await storeImage(src, await busyboxLayer());
    await pushImage(
      new RegistryClient({ host: reg.host, credentials: creds }),
      src,
      img.manifestDigest,
      parseReference(`${reg.host}/private/img:v1`),
    );
    s = await startTestServer();
  });
  after(async () => {
    await s?.close();
    await reg?.close();
    rmSync(scratch, { recursive: true, force: true });
    if (s) rmSync(s.home, { recursive: true, force: true });
  });

  test('a bad reference is refused naming it', async () => {
    const r = await agni(['image', 'pull', 'Team/UPPER:v1']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /image reference "Team\/UPPER:v1"/);
  });

  test('401 without credentials, then login, pull, push, logout', async () => {
    const ref = `${reg.host}/private/img:v1`;
    const denied = await agni(['image', 'pull', ref]);
    assert.equal(denied.code, 77, denied.stderr);
    assert.match(denied.stderr, new RegExp(`hint: agni login ${reg.host}`));

    const wrong = await agni(['login', reg.host, '-u', 'alice', '--password-stdin'], 'nope');
    assert.equal(wrong.code, 77);
    assert.throws(() => statSync(join(s.home, 'auth.json')), 'nothing kept for wrong credentials');

    const ok = await agni(['login', reg.host, '-u', 'alice', '--password-stdin'], creds.password);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(!ok.stdout.includes(creds.password));
    const authFile = join(s.home, 'auth.json');
    assert.equal(statSync(authFile).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(authFile, 'utf8'));
    assert.equal(saved.auths[reg.host].auth, Buffer.from(`alice:${creds.password}`).toString('base64'));

    const pulled = await agni(['image', 'pull', ref, '--json']);
    assert.equal(pulled.code, 0, pulled.stderr);
    const rec = JSON.parse(pulled.stdout);
    assert.equal(rec.manifestDigest, img.manifestDigest);
    assert.equal(rec.name, ref);
    assert.deepEqual(
      rec.layers.map((l: { digest: string }) => l.digest),
      [img.layerDigest],
    );
    const ls = JSON.parse((await agni(['image', 'oci-ls', '--json'])).stdout);
    assert.deepEqual(
      ls.map((i: { name: string }) => i.name),
      [ref],
    );

    const pushed = await agni(['image', 'push', ref, `${reg.host}/private/img:v2`, '--json']);
    assert.equal(pushed.code, 0, pushed.stderr);
    const pr = JSON.parse(pushed.stdout);
    assert.equal(pr.blobsSkipped, 2, 'the registry has both blobs already');
    assert.equal(pr.blobsPushed, 0);
    const check = await new RegistryClient({ host: reg.host, credentials: creds }).getManifest(
      'private/img',
      'v2',
    );
    assert.equal(check.digest, img.manifestDigest);

    const out = await agni(['logout', reg.host]);
    assert.equal(out.code, 0);
    assert.equal((await agni(['image', 'pull', ref])).code, 77);
  });

  test('push of an image that was never pulled names it', async () => {
    const r = await agni(['image', 'push', 'nothing/here:v1', `${reg.host}/private/x:v1`]);
    assert.equal(r.code, 66);
    assert.match(r.stderr, /no pulled image "nothing\/here:v1"/);
  });
});
