/**
 * Many architectures, end to end on this x86_64 machine: a real docker-registry holds an index with
 * linux/amd64 (the host's busybox) and linux/arm64 (Debian's arm64 busybox-static); an "ARM node"
 * (AGNI_PLATFORMS=linux/arm64) runs the arm64 manifest through qemu-user-static, the default node
 * its own amd64 one, an amd64-only node refuses an arm64-only image naming linux/arm64, and image
 * aliases (set with the CLI) swap a single-arch image for another on the arch they name.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ContentStore } from '../src/image/oci/content-store.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { CLI } from './helpers/agni-up.js';
import { arm64BusyboxLayer, arm64EmulationProblem } from './helpers/arm64-busybox.js';
import {
  type BuiltImage,
  busyboxLayer,
  startRegistry,
  storeImage,
  storeIndex,
  type TestRegistry,
} from './helpers/registry.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { tarOf } from './helpers/tarball.js';

const run = promisify(execFile);

let scratch: string;
let reg: TestRegistry;
/** AGNI_PLATFORMS=linux/arm64: an ARM node, by emulation */
let armNode: TestServer;
/** the default platforms: the host's (amd64) first, then what binfmt_misc emulates */
let hostNode: TestServer;
/** AGNI_PLATFORMS=linux/amd64: no emulation */
let amdNode: TestServer;
let amd: BuiltImage;
let arm: BuiltImage;
let fnSeq = 0;

/** startTestServer with AGNI_PLATFORMS set (or unset) for the node it starts */
async function startNode(platforms: string | undefined): Promise<TestServer> {
  const saved = process.env.AGNI_PLATFORMS;
  if (platforms === undefined) delete process.env.AGNI_PLATFORMS;
  else process.env.AGNI_PLATFORMS = platforms;
  try {
    return await startTestServer();
  } finally {
    if (saved === undefined) delete process.env.AGNI_PLATFORMS;
    else process.env.AGNI_PLATFORMS = saved;
  }
}

async function deploy(
  node: TestServer,
  name: string,
  runtime: string,
): Promise<{ status: number; body: { error?: { code: string; message: string; hint?: string } } }> {
  const dir = join(scratch, `fn-${fnSeq++}`);
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'agni.yaml'),
    `name: ${name}\nruntime: ${runtime}\ncommand: ["/bin/uname", "-m"]\n`,
  );
  const r = await fetch(`${node.url}/v1/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: new Uint8Array(await tarOf(dir)),
  });
  return { status: r.status, body: await r.json() };
}

async function unameOn(node: TestServer, name: string): Promise<string> {
  const r = await fetch(`${node.url}/v1/functions/${name}/invoke`, { method: 'POST', body: '' });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  assert.equal(r.headers.get('agni-exit-code') ?? '0', '0', text);
  return text.trim();
}

async function imageIdOf(node: TestServer, name: string): Promise<string> {
  const r = await fetch(`${node.url}/v1/functions/${name}/versions`);
  const { versions } = (await r.json()) as { versions: { version: number; imageId: string }[] };
  return versions.sort((a, b) => b.version - a.version)[0]!.imageId;
}

async function agni(
  node: TestServer,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, AGNI_URL: node.url } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

before(async () => {
  const problem = arm64EmulationProblem();
  assert.equal(problem, undefined, `arm64 emulation: ${problem}; run scripts/setup.sh as root`);
  scratch = mkdtempSync(join(tmpdir(), 'agni-multiarch-'));
  reg = await startRegistry();
  const src = new ContentStore(join(scratch, 'src'));
  amd = await storeImage(src, await busyboxLayer(), 'amd64');
  arm = await storeImage(src, await arm64BusyboxLayer(), 'arm64', 'v8');
  const index = await storeIndex(src, [
    { image: amd, arch: 'amd64' },
    { image: arm, arch: 'arm64', variant: 'v8' },
  ]);
  const client = new RegistryClient({ host: reg.host });
  const push = (digest: string, ref: string) =>
    pushImage(client, src, digest, parseReference(`${reg.host}/${ref}`));
  await push(index, 'tools/multi:1');
  await push(arm.manifestDigest, 'tools/arm-only:1');
  await push(amd.manifestDigest, 'tools/bb:1');
  await push(arm.manifestDigest, 'tools/bb-arm64:1');
  armNode = await startNode('linux/arm64');
  hostNode = await startNode(undefined);
  amdNode = await startNode('linux/amd64');
});

after(async () => {
  for (const n of [armNode, hostNode, amdNode]) {
    await n?.close();
    if (n) rmSync(n.home, { recursive: true, force: true });
  }
  await reg?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('many architectures', { concurrency: false }, () => {
  test('one index: the ARM node runs its arm64 manifest under qemu, the default node its amd64 one', async () => {
    const ref = `${reg.host}/tools/multi:1`;
    const onArm = await deploy(armNode, 'multi', ref);
    assert.equal(onArm.status, 201, JSON.stringify(onArm.body));
    assert.equal(await imageIdOf(armNode, 'multi'), `oci:${arm.manifestDigest}`);
    assert.equal(await unameOn(armNode, 'multi'), 'aarch64');

    const onHost = await deploy(hostNode, 'multi', ref);
    assert.equal(onHost.status, 201, JSON.stringify(onHost.body));
    assert.equal(await imageIdOf(hostNode, 'multi'), `oci:${amd.manifestDigest}`);
    assert.equal(await unameOn(hostNode, 'multi'), 'x86_64');
  });

  test('an arm64-only image: refused on an amd64-only node naming linux/arm64, emulated on the default node', async () => {
    const ref = `${reg.host}/tools/arm-only:1`;
    const refused = await deploy(amdNode, 'armonly', ref);
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(refused.body.error?.code, 'platform_unsupported');
    assert.match(refused.body.error!.message, /linux\/arm64/);
    assert.match(refused.body.error!.message, /linux\/amd64/, 'and says what the node runs');
    const versions = await fetch(`${amdNode.url}/v1/functions/armonly/versions`);
    assert.equal(versions.status, 404, 'no version was recorded');

    // The default node lists qemu's arm64 among its platforms (binfmt_misc entry with F).
    const emulated = await deploy(hostNode, 'armonly', ref);
    assert.equal(emulated.status, 201, JSON.stringify(emulated.body));
    assert.equal(await unameOn(hostNode, 'armonly'), 'aarch64');
  });

  test('aliases: the ARM node runs the arm64 alias, amd64 nodes the canonical image unchanged', async () => {
    const canonical = `${reg.host}/tools/bb:1`;
    const alias = `${reg.host}/tools/bb-arm64:1`;
    for (const node of [armNode, hostNode, amdNode]) {
      const set = await agni(node, ['image', 'alias', 'set', canonical, '--arch', 'arm64', alias]);
      assert.equal(set.code, 0, set.stderr);
      assert.equal(set.stdout, `${canonical} on arm64 -> ${alias}\n`);
    }
    const ls = await agni(armNode, ['image', 'alias', 'ls', '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(
      JSON.parse(ls.stdout).map((a: { canonical: string; arch: string; image: string }) => [
        a.canonical,
        a.arch,
        a.image,
      ]),
      [[canonical, 'arm64', alias]],
    );
    const table = await agni(armNode, ['image', 'alias', 'ls']);
    assert.match(table.stdout, /^CANONICAL\s+ARCH\s+IMAGE\s+SET$/m);
    assert.match(table.stdout, new RegExp(`^${canonical}\\s+arm64\\s+${alias}\\s`, 'm'));

    const onArm = await deploy(armNode, 'bb', canonical);
    assert.equal(onArm.status, 201, JSON.stringify(onArm.body));
    assert.equal(await imageIdOf(armNode, 'bb'), `oci:${arm.manifestDigest}`);
    assert.equal(await unameOn(armNode, 'bb'), 'aarch64');
    for (const node of [hostNode, amdNode]) {
      const d = await deploy(node, 'bb', canonical);
      assert.equal(d.status, 201, JSON.stringify(d.body));
      assert.equal(await imageIdOf(node, 'bb'), `oci:${amd.manifestDigest}`);
      assert.equal(await unameOn(node, 'bb'), 'x86_64');
    }

    // Without its alias the amd64-only canonical image fits no platform of the ARM node.
    const rm = await agni(armNode, ['image', 'alias', 'rm', canonical, '--arch', 'arm64']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, `removed 1 alias(es) of ${canonical}\n`);
    const refused = await deploy(armNode, 'bb', canonical);
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.match(refused.body.error!.message, /linux\/amd64/);
    assert.equal(await unameOn(armNode, 'bb'), 'aarch64', 'the deployed version is untouched');
  });

  test('alias mistakes are refused by the CLI with the field, a hint and the usage exit code', async () => {
    const canonical = `${reg.host}/tools/bb:1`;
    const badArch = await agni(armNode, ['image', 'alias', 'set', canonical, '--arch', 'aarch64', 'x/y:1']);
    assert.equal(badArch.code, 64);
    assert.match(badArch.stderr, /error: arch "aarch64": not an OCI architecture name/);
    assert.match(badArch.stderr, /hint: OCI calls aarch64 "arm64"/);

    const self = await agni(armNode, [
      'image',
      'alias',
      'set',
      `${reg.host}/tools/bb`,
      '--arch',
      'arm64',
      `${reg.host}/tools/bb:latest`,
    ]);
    assert.equal(self.code, 64);
    assert.match(self.stderr, /cannot be an alias of itself/);

    const noArch = await agni(armNode, ['image', 'alias', 'set', canonical, 'x/y:1']);
    assert.equal(noArch.code, 64);
    assert.match(noArch.stderr, /--arch/);

    const gone = await agni(armNode, ['image', 'alias', 'rm', canonical]);
    assert.equal(gone.code, 66);
    assert.match(gone.stderr, new RegExp(`no image alias of ${canonical}`));
    const ls = await agni(armNode, ['image', 'alias', 'ls', '--json']);
    assert.deepEqual(JSON.parse(ls.stdout), [], 'nothing was stored by the refused commands');
  });
});
