/**
 * `network: egress` against the real kernel, runc and iptables: a lab namespace holds listeners on
 * an allowed and a forbidden address and on the metadata address; the host listens on its loopback
 * and on every address. A busybox sandbox allowed one lab address:port reaches exactly that, in
 * cold, prewarmed and warm sandboxes, never another sandbox; nothing is left after shutdown, and
 * an `agni up` killed with SIGKILL leaves leftovers that the next start removes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllowList } from '../src/core/egress-allow.js';
import type { SandboxSpec } from '../src/sandbox/backend.js';
import { netnsPrefix } from '../src/sandbox/loopback-forward.js';
import { RuncBackend } from '../src/sandbox/runc-backend.js';
import { type AgniUp, spawnAgniUp } from './helpers/agni-up.js';
import { makeBusyboxRootfs } from './helpers/busybox-rootfs.js';
import { createLab, egressLeftovers, egressLinks, type Lab, METADATA } from './helpers/egress-lab.js';
import { fnDir, tarOf } from './helpers/tarball.js';

const home = resolve(mkdtempSync(join(tmpdir(), 'agni-egress-test-')));
const rootfs = makeBusyboxRootfs(join(home, 'busybox'));
const codeDir = join(home, 'code');
mkdirSync(codeDir, { recursive: true });
const tag = netnsPrefix(home).slice(5, 13);
const LAB_PORT = 7001;
/** what busybox nc says when the firewall refuses (a reset or ICMP unreachable) */
const REFUSED =
  /^nc: can't connect to remote host \([\d.]+\): (Connection refused|No route to host|Network unreachable)/;
const SB_PORT = 9000;

/** Each target `host:port` on a line `host:port => what it answered`; the sandbox's gateway added as `gw:PORT`. */
const PROBE = `gw=$(busybox ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')
for t in "$@" "gw:$HOSTPORT"; do
  h=\${t%:*}; p=\${t#*:}; [ "$h" = gw ] && h=$gw
  out=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 5 "$h" "$p" 2>&1 | head -c 120)
  echo "$t => $out"
done`;

function hostAddress(): string {
  for (const [name, list] of Object.entries(networkInterfaces()))
    for (const a of list ?? [])
      if (a.family === 'IPv4' && !a.internal && !name.startsWith('agni-') && !name.startsWith('alab'))
        return a.address;
  throw new Error('no external IPv4 address on this host');
}

function listen(host: string, answer: string): Promise<Server> {
  const s = createServer((c) => c.end(`${answer}\n`));
  return new Promise((res) => s.listen(0, host, () => res(s)));
}

const portOf = (s: Server) => (s.address() as { port: number }).port;

/** what a host-side client gets from host:port (proves a listener is live, so "unreachable" means the firewall) */
function answerOf(host: string, port: number): Promise<string> {
  return new Promise((res) => {
    const c = connect({ host, port });
    let got = '';
    c.setTimeout(2000, () => c.destroy());
    c.on('data', (d) => (got += d));
    c.on('close', () => res(got.trim()));
    c.on('error', () => res(''));
  });
}

function parseProbe(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of out.split('\n')) {
    const [t, a] = l.split(' => ');
    if (t && a !== undefined) m.set(t, a.trim());
  }
  return m;
}

describe('network: egress (real runc, iptables, listeners)', { concurrency: false }, () => {
  const backend = new RuncBackend({ home });
  let lab: Lab;
  let loop: Server;
  let any: Server;
  let seq = 0;
  let targets: string[];

  function spec(args: string[], over: Partial<SandboxSpec> = {}): SandboxSpec {
    const allow = parseAllowList([`${lab.allowed}:${LAB_PORT}`]);
    assert.ok(Array.isArray(allow));
    return {
      id: `eg${process.pid}-${seq++}`,
      rootfs,
      hostRuntime: false,
      codeDir,
      args,
      env: { HOSTPORT: String(portOf(any)) },
      cwd: '/tmp',
      limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 64, timeoutMs: 20_000 },
      network: 'egress',
      allow,
      ...over,
    };
  }

  const probe = (extra: string[] = [], over: Partial<SandboxSpec> = {}) =>
    spec(['/bin/sh', '-c', PROBE, 'probe', ...targets, ...extra], over);

  async function cold(s: SandboxSpec): Promise<string> {
    const out: Buffer[] = [];
    const r = await backend.run(s, {
      stdin: Buffer.alloc(0),
      onStdout: (c) => out.push(c),
      onStderr: () => {},
    });
    assert.equal(r.outcome, 'ok');
    return Buffer.concat(out).toString();
  }

  function expectConfined(out: string, extra: Record<string, boolean> = {}): void {
    const got = parseProbe(out);
    const want: Record<string, boolean> = {
      [`${lab.allowed}:${LAB_PORT}`]: true,
      [`${lab.forbidden}:${LAB_PORT}`]: false,
      [`${METADATA}:80`]: false,
      [`127.0.0.1:${portOf(loop)}`]: false,
      [`${lab.gateway}:${portOf(any)}`]: false,
      [`${hostAddress()}:${portOf(any)}`]: false,
      [`gw:${portOf(any)}`]: false,
      ...extra,
    };
    for (const [t, reachable] of Object.entries(want)) {
      const a = got.get(t);
      assert.ok(a !== undefined, `probe of ${t} missing in:\n${out}`);
      if (reachable) assert.match(a, /^ok-/, `${t}: reachable expected, got "${a}"`);
      else assert.match(a, REFUSED, `${t}: unreachable expected, got "${a}"`);
    }
  }

  before(async () => {
    assert.ok((await backend.available()).ok);
    await backend.recover();
    lab = createLab();
    await lab.listen(lab.allowed, LAB_PORT, 'allowed');
    await lab.listen(lab.forbidden, LAB_PORT, 'forbidden');
    await lab.listen(METADATA, 80, 'metadata');
    loop = await listen('127.0.0.1', 'ok-loopback');
    any = await listen('0.0.0.0', 'ok-host');
    targets = [
      `${lab.allowed}:${LAB_PORT}`,
      `${lab.forbidden}:${LAB_PORT}`,
      `${METADATA}:80`,
      `127.0.0.1:${portOf(loop)}`,
      `${lab.gateway}:${portOf(any)}`,
      `${hostAddress()}:${portOf(any)}`,
    ];
    // every listener answers the host: what the sandbox cannot reach is the firewall's doing
    for (const t of targets) {
      const i = t.lastIndexOf(':');
      assert.match(await answerOf(t.slice(0, i), Number(t.slice(i + 1))), /^ok-/, `host reaches ${t}`);
    }
  });

  after(async () => {
    await backend.shutdown();
    loop?.close();
    any?.close();
    lab?.destroy();
    rmSync(home, { recursive: true, force: true });
  });

  test('network none reaches nothing (the baseline the allow list opens up from)', async () => {
    const got = parseProbe(await cold(probe([], { network: 'none', allow: [] })));
    assert.equal(got.get(`${lab.allowed}:${LAB_PORT}`)?.startsWith('ok-'), false);
  });

  test('cold: only the allowed address:port is reachable', async () => {
    expectConfined(await cold(probe()));
  });

  test('another port of the allowed address stays closed', async () => {
    await lab.listen(lab.allowed, LAB_PORT + 1, 'other-port');
    expectConfined(await cold(probe([`${lab.allowed}:${LAB_PORT + 1}`])), {
      [`${lab.allowed}:${LAB_PORT + 1}`]: false,
    });
  });

  test('allow 0.0.0.0/0 ("anywhere") opens the lab, never the host, metadata or the pool', async () => {
    const anywhere = parseAllowList(['0.0.0.0/0']);
    assert.ok(Array.isArray(anywhere));
    expectConfined(await cold(probe(['10.89.0.1:80'], { allow: anywhere })), {
      [`${lab.forbidden}:${LAB_PORT}`]: true,
      '10.89.0.1:80': false,
    });
  });

  test('prewarmed and warm sandboxes are confined alike; no sandbox reaches another', async () => {
    // A listening egress sandbox (a warm worker) the host reaches, so only the firewall stops a peer.
    const listenerSpec = spec([
      '/bin/sh',
      '-c',
      `busybox ip -4 -o addr show eth0; exec busybox nc -ll -p ${SB_PORT} -e echo ok-sandbox`,
    ]);
    const listenerId = listenerSpec.id;
    const listener = await backend.startWorker(listenerSpec);
    let first = '';
    const addr = await new Promise<string>((res, rej) => {
      listener.stdout.on('data', (d) => {
        first += d;
        const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(first);
        if (m) res(m[1]!);
      });
      void listener.exited.then((e) => rej(new Error(`listener exited: ${JSON.stringify(e)}`)));
    });
    try {
      // From inside its own namespace (the host's own connections in are refused like the sandbox's out)
      let own = '';
      for (let i = 0; i < 100 && !own.startsWith('ok-'); i++) {
        try {
          own = execFileSync(
            'ip',
            [
              'netns',
              'exec',
              backend.netnsName(listenerId),
              'busybox',
              'nc',
              '-w',
              '1',
              addr,
              String(SB_PORT),
            ],
            { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
          ).trim();
        } catch {
          own = ''; // not listening yet
        }
        if (!own) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(own, 'ok-sandbox', 'the listening sandbox answers');
      const peer = { [`${addr}:${SB_PORT}`]: false };

      expectConfined(await cold(probe([`${addr}:${SB_PORT}`])), peer);

      const prepared = await backend.prepare(probe([`${addr}:${SB_PORT}`]));
      const out: Buffer[] = [];
      const r = await prepared.start({
        env: {},
        stdin: Buffer.alloc(0),
        io: { onStdout: (c) => out.push(c), onStderr: () => {} },
        deadline: Date.now() + 20_000,
      });
      assert.equal(r.outcome, 'ok');
      expectConfined(Buffer.concat(out).toString(), peer);

      const worker = await backend.startWorker(probe([`${addr}:${SB_PORT}`]));
      const wout: Buffer[] = [];
      worker.stdout.on('data', (c: Buffer) => wout.push(c));
      assert.equal((await worker.exited).outcome, 'ok');
      expectConfined(Buffer.concat(wout).toString(), peer);
    } finally {
      await listener.kill();
      await listener.exited;
    }
  });

  test('each sandbox has its own address, also across two Agni homes (processes) at once', async () => {
    // A second backend (another home, its own slot counter from 0): only the kernel's link-name
    // lock keeps the two from handing out one address.
    const home2 = resolve(mkdtempSync(join(tmpdir(), 'agni-egress-test2-')));
    const other = new RuncBackend({ home: home2 });
    const s = [
      '/bin/sh',
      '-c',
      'busybox ip -4 -o addr show eth0 | sed "s/.*inet \\([0-9.]*\\).*/\\1/"; sleep 2',
    ];
    // each stays 2 s after printing, so all six hold their addresses at once
    const runOn = async (b: RuncBackend) => {
      const out: Buffer[] = [];
      const r = await b.run(spec(s), {
        stdin: Buffer.alloc(0),
        onStdout: (c) => out.push(c),
        onStderr: () => {},
      });
      assert.equal(r.outcome, 'ok');
      return Buffer.concat(out).toString().trim();
    };
    try {
      const addrs = await Promise.all([backend, other, backend, other, backend, other].map(runOn));
      for (const a of addrs) assert.match(a, /^10\.89\.\d+\.\d+$/);
      assert.equal(new Set(addrs).size, addrs.length, addrs.join(' '));
    } finally {
      await other.shutdown();
      rmSync(home2, { recursive: true, force: true });
    }
    assert.deepEqual(egressLeftovers(netnsPrefix(home2).slice(5, 13)), []);
  });

  test('nothing of the sandboxes is left after they end and after shutdown', async () => {
    await backend.shutdown();
    assert.deepEqual(egressLeftovers(tag), []);
    assert.deepEqual(egressLinks(), []);
  });
});

describe('network: egress through agni up (deploy, cold, prewarmed, warm; SIGKILL and restart)', {
  concurrency: false,
}, () => {
  const upHome = resolve(mkdtempSync(join(tmpdir(), 'agni-egress-up-')));
  const upTag = netnsPrefix(upHome).slice(5, 13);
  const TOKEN = `egress-${process.pid}`;
  let lab: Lab;
  let up: AgniUp | undefined;
  const auth = { authorization: `Bearer ${TOKEN}` };

  async function start(): Promise<AgniUp> {
    process.env.AGNI_TOKEN = TOKEN;
    try {
      return await spawnAgniUp(upHome, ['--backend', 'runc', '--host', '0.0.0.0']);
    } finally {
      delete process.env.AGNI_TOKEN;
    }
  }

  async function stop(signal: NodeJS.Signals): Promise<void> {
    const p = up?.p;
    up = undefined;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await gone;
  }

  async function invoke(url: string, name: string): Promise<{ status: number; text: string; id: string }> {
    const r = await fetch(`${url}/v1/functions/${name}/invoke`, { method: 'POST', headers: auth, body: '' });
    return { status: r.status, text: await r.text(), id: r.headers.get('agni-invocation-id') ?? '' };
  }

  async function deploy(url: string, files: Record<string, string>): Promise<void> {
    const r = await fetch(`${url}/v1/functions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/gzip' },
      body: new Uint8Array(await tarOf(fnDir(files))),
    });
    assert.equal(r.status, 201, await r.text());
  }

  /** the probe as a shell function over the targets, for the host runtime (host busybox) */
  function probeScript(targets: string[]): string {
    return `probe() {
  gw=$(busybox ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p')
  for t in ${targets.join(' ')}; do
    h=\${t%:*}; p=\${t#*:}; case $h in gw) h=$gw ;; esac
    out=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 5 "$h" "$p" 2>&1 | head -c 120)
    echo "$t => $out"
  done
}
`;
  }

  before(async () => {
    lab = createLab();
    await lab.listen(lab.allowed, LAB_PORT, 'allowed');
    await lab.listen(lab.forbidden, LAB_PORT, 'forbidden');
    await lab.listen(METADATA, 80, 'metadata');
  });

  after(async () => {
    await stop('SIGTERM');
    lab?.destroy();
    rmSync(upHome, { recursive: true, force: true });
  });

  test('allowed reachable, forbidden, metadata and the Agni API not, in each mode; nothing left after a stop or a SIGKILL', async () => {
    up = await start();
    const apiPort = new URL(up.url).port;
    // the API listens on every address: the host reaches it on the one the probe tries
    assert.ok((await fetch(`http://${hostAddress()}:${apiPort}/v1/functions`)).status > 0);
    const targets = [
      `${lab.allowed}:${LAB_PORT}`,
      `${lab.forbidden}:${LAB_PORT}`,
      `${METADATA}:80`,
      `gw:${apiPort}`,
      `${hostAddress()}:${apiPort}`,
      `127.0.0.1:${apiPort}`,
    ];
    const yaml = (name: string, extra: string) =>
      `name: ${name}\nruntime: host\nnetwork: egress\nallow: ["${lab.allowed}:${LAB_PORT}"]\nlimits: {timeout: 20s}\n${extra}`;
    const script = probeScript(targets);
    await deploy(up.url, {
      'agni.yaml': yaml('eg-cold', 'command: ["/bin/sh", "/fn/main.sh"]\npool: {max: 0}\n'),
      'main.sh': `${script}probe\n`,
    });
    await deploy(up.url, {
      'agni.yaml': yaml('eg-pre', 'command: ["/bin/sh", "/fn/main.sh"]\npool: {min: 1, max: 1}\n'),
      'main.sh': `${script}probe\n`,
    });
    await deploy(up.url, {
      'agni.yaml': yaml('eg-warm', 'command: ["/bin/sh", "/fn/main.sh"]\nlifecycle: warm\npool: {max: 1}\n'),
      'main.sh': `. "$AGNI_RUNTIMES/shell/agni-warm.sh"\n${script}handle() { cat >/dev/null; probe; }\nagni_serve handle\n`,
    });
    const check = (what: string, text: string) => {
      const got = parseProbe(text);
      assert.equal(
        got.get(`${lab.allowed}:${LAB_PORT}`)?.startsWith('ok-'),
        true,
        `${what}: allowed reachable\n${text}`,
      );
      for (const t of targets.slice(1)) {
        const a = got.get(t);
        assert.ok(a !== undefined, `${what}: ${t} probed\n${text}`);
        // the API would answer HTTP/1.1 …, a lab listener ok-…: a refusal is nc's error
        assert.match(a, REFUSED, `${what}: ${t} unreachable, got "${a}"`);
      }
    };
    const coldRun = await invoke(up.url, 'eg-cold');
    assert.equal(coldRun.status, 200, coldRun.text);
    check('cold', coldRun.text);
    await invoke(up.url, 'eg-pre'); // makes the pool
    // the metrics count calls by how their sandbox was had
    const prewarmedCalls = async () => {
      const text = await (await fetch(`${up?.url}/metrics`, { headers: auth })).text();
      const line = text
        .split('\n')
        .find(
          (l) =>
            /^agni_invocations_total\{/.test(l) &&
            l.includes('function="eg-pre"') &&
            l.includes('mode="prewarmed"'),
        );
      return Number(line?.split(' ').pop() ?? 0);
    };
    for (let i = 0; i < 50 && (await prewarmedCalls()) === 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const r = await invoke(up.url, 'eg-pre');
      assert.equal(r.status, 200, r.text);
      check('prewarmed', r.text);
    }
    assert.ok((await prewarmedCalls()) > 0, 'a call ran in a prewarmed sandbox');
    for (let i = 0; i < 2; i++) {
      const r = await invoke(up.url, 'eg-warm');
      assert.equal(r.status, 200, r.text);
      check('warm', r.text);
    }
    assert.ok(egressLeftovers(upTag).length > 0, 'the live pool and worker have their namespaces and rules');

    // A crash: the waiting prewarmed sandbox and the warm worker leave their network behind...
    await stop('SIGKILL');
    const left = egressLeftovers(upTag);
    assert.ok(
      left.some((l) => l.startsWith('netns')) && left.some((l) => l.startsWith('iptables')),
      left.join('\n'),
    );
    // ...which the next start removes before anything else runs.
    up = await start();
    assert.deepEqual(egressLeftovers(upTag), []);
    const again = await invoke(up.url, 'eg-cold');
    assert.equal(again.status, 200, again.text);
    check('cold after restart', again.text);
    await invoke(up.url, 'eg-warm');
    await stop('SIGTERM');
    assert.deepEqual(egressLeftovers(upTag), []);
    assert.deepEqual(egressLinks(), []);
  });
});
