/**
 * The "several hosts on one machine" harness (test/helpers/netns-hosts.ts) against the real kernel,
 * NATS and PostgreSQL: hosts reach the services only over their own links, a cut link stops them,
 * the arm64 busybox runs (and talks to NATS) inside a host, and nothing is left afterwards, also
 * after an owner that was SIGKILLed.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { arm64EmulationProblem, makeArm64BusyboxRootfs } from './helpers/arm64-busybox.js';
import { createNetnsHosts, type NetnsHosts, netnsLeftovers, sweepNetnsHosts } from './helpers/netns-hosts.js';
import { startRegistry } from './helpers/registry.js';

const NATS = 4222;
const PG = 5432;

/** a raw NATS exchange from inside `host`: `PING` after the server's INFO line must get `PONG` */
function natsPing(h: NetnsHosts, host: number): Promise<string> {
  const script = `
    const s = require('node:net').connect({ host: process.argv[1], port: ${NATS} });
    let got = '';
    s.setTimeout(1500, () => { console.log('timeout'); process.exit(0); });
    s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); });
    s.on('data', (d) => {
      if (!got.startsWith('INFO ') && d.toString().startsWith('INFO ')) s.write('PING\\r\\n');
      got += d;
      if (/\\r\\nPONG\\r\\n/.test(got)) { console.log('PONG'); process.exit(0); }
    });`;
  return h.run(host, process.execPath, ['-e', script, h.hosts[host]!.gateway]).then((o) => o.trim());
}

function psql(h: NetnsHosts, host: number): Promise<string> {
  const args = ['-h', h.hosts[host]!.gateway, '-p', String(PG), '-U', 'postgres', '-tAc', 'select 1'];
  return h
    .run(host, 'env', ['PGCONNECT_TIMEOUT=2', 'psql', ...args])
    .then((o) => o.trim())
    .catch((e: { stderr?: string }) => `failed: ${e.stderr ?? e}`);
}

describe('netns hosts: several hosts on one machine', () => {
  let h: NetnsHosts;
  const work = mkdtempSync(join(tmpdir(), 'agni-netns-test-'));

  before(async () => {
    h = await createNetnsHosts(2);
    await h.forward(NATS);
    await h.forward(PG);
  });
  after(async () => {
    await h?.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  it('gives each host its own namespace, loopback and address, and nothing else', async () => {
    const [a, b] = h.hosts;
    assert.notEqual(a!.address, b!.address);
    const addrs = await h.run(0, 'ip', ['-o', '-4', 'addr', 'show']);
    assert.match(addrs, /lo\s+inet 127\.0\.0\.1/);
    assert.match(addrs, new RegExp(`eth0\\s+inet ${a!.address.replaceAll('.', '\\.')}/24`));
    assert.doesNotMatch(addrs, new RegExp(b!.address.replaceAll('.', '\\.')));
    // no default route: a host reaches its gateway and nothing beyond it
    assert.doesNotMatch(await h.run(0, 'ip', ['route', 'show']), /default/);
    // the host's loopback is its own: the real NATS on 127.0.0.1 is not there
    assert.equal(
      await h.run(0, process.execPath, ['-e', natsProbeLoopback]).then((o) => o.trim()),
      'refused',
    );
  });

  it('reaches the real NATS and PostgreSQL over its link; a cut host cannot, a healed one can again', async () => {
    assert.equal(await natsPing(h, 0), 'PONG');
    assert.equal(await natsPing(h, 1), 'PONG');
    if (existsSync('/usr/bin/psql')) assert.equal(await psql(h, 0), '1');

    await h.cut(0);
    assert.notEqual(await natsPing(h, 0), 'PONG');
    if (existsSync('/usr/bin/psql')) assert.match(await psql(h, 0), /^failed/);
    assert.equal(await natsPing(h, 1), 'PONG', 'cutting one host leaves the others alone');

    await h.heal(0);
    assert.equal(await natsPing(h, 0), 'PONG');
    if (existsSync('/usr/bin/psql')) assert.equal(await psql(h, 0), '1');
  });

  it('relays the loopback test registry on request', async () => {
    const reg = await startRegistry();
    try {
      const port = Number(reg.host.split(':')[1]);
      await h.forward(port);
      const url = `http://${h.hosts[1]!.gateway}:${port}/v2/`;
      const status = await h.run(1, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '3', url]);
      assert.equal(status, '200');
    } finally {
      await reg.close();
    }
  });

  it('runs arm64 binaries inside a host (qemu-user via binfmt_misc), talking to NATS over the link', async (t) => {
    const problem = arm64EmulationProblem();
    if (problem) return t.skip(problem);
    const bb = join(makeArm64BusyboxRootfs(join(work, 'arm64')), 'bin', 'busybox');
    assert.equal((await h.run(1, bb, ['uname', '-m'])).trim(), 'aarch64');
    const out = await h.run(1, bb, [
      'sh',
      '-c',
      `(sleep 1; printf 'PING\\r\\n'; sleep 1) | ${bb} nc ${h.hosts[1]!.gateway} ${NATS}`,
    ]);
    assert.match(out, /^INFO /);
    assert.match(out, /\r\nPONG\r\n/);
  });

  it('leaves nothing behind after destroy (twice), including processes started in a host', async () => {
    const sleeper = h.spawn(0, 'sleep', ['300'], { stdio: 'ignore' });
    await new Promise((r) => sleeper.once('spawn', r));
    assert.notDeepEqual(netnsLeftovers(process.pid), []);
    const exited = new Promise((r) => sleeper.once('exit', r));
    await h.destroy();
    await h.destroy();
    await exited;
    assert.deepEqual(netnsLeftovers(process.pid), []);
    const netns = execFileSync('ip', ['netns', 'list'], {
      encoding: 'utf8',
    });
    assert.doesNotMatch(netns, new RegExp(`agni-nh-${process.pid}-`));
  });
});

const natsProbeLoopback = `
  const s = require('node:net').connect({ host: '127.0.0.1', port: ${NATS} }, () => { console.log('connected'); process.exit(0); });
  s.on('error', (e) => { console.log(e.code === 'ECONNREFUSED' ? 'refused' : e.code); process.exit(0); });`;

/** a node process that builds 2 hosts with a NATS relay and a process in host 1, then runs `then` */
function owner(then: string) {
  const helper = join(fileURLToPath(new URL('.', import.meta.url)), 'helpers', 'netns-hosts.js');
  return spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { createNetnsHosts } from ${JSON.stringify(helper)};
       const h = await createNetnsHosts(2); await h.forward(${NATS});
       h.spawn(1, 'sleep', ['300'], { stdio: 'ignore' }).unref();
       console.log('ready'); ${then}`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

describe('netns hosts: an owner that does not call destroy()', () => {
  it('is swept when it is SIGKILLed: its namespaces, links and processes go once its pid is dead', async () => {
    const child = owner('setInterval(() => {}, 1000);');
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`owner exited early (${code})`)));
      });
      const pid = child.pid!;
      const left = netnsLeftovers(pid);
      assert.ok(
        left.some((l) => l.startsWith('agni-nh-')),
        left.join(', '),
      );
      assert.ok(left.filter((l) => l.startsWith('process ')).length >= 3, left.join(', '));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      assert.notDeepEqual(netnsLeftovers(pid), [], 'a SIGKILLed owner cleans nothing up itself');
      sweepNetnsHosts();
      assert.deepEqual(netnsLeftovers(pid), []);
    } finally {
      child.kill('SIGKILL');
      sweepNetnsHosts(child.pid);
    }
  });

  it('cleans up after itself when it simply exits', async () => {
    const child = owner('');
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 0);
    assert.deepEqual(netnsLeftovers(child.pid!), []);
  });
});
