/**
 * Several "hosts" on one machine for cluster tests: each host is a network namespace joined to the
 * root namespace by a veth pair on its own /24 inside 10.231.0.0/16, a range this harness owns (it
 * exists only on this machine, between the root namespace and namespaces made here; nothing is
 * routed beyond: the hosts get no default route and ip_forward is left alone, so a host reaches
 * exactly its gateway, and the root namespace reaches every host).
 *
 * Host i: namespace `agni-nh-<pid>-<i>`, root-side veth `anr<pid>x<i>` = GATEWAY 10.231.X.1/24,
 * inside the namespace `eth0` = ADDRESS 10.231.X.2/24 (X is the first /24 no root-side address
 * uses), `lo` up. The real NATS and PostgreSQL listen on 127.0.0.1 only, which inside a namespace is
 * the namespace's own loopback; so `forward(port)` starts, per host, a socat in the root namespace
 * listening on that host's GATEWAY:port and relaying to 127.0.0.1:port: an agent in host i dials
 * nats://GATEWAY:4222, postgres://postgres@GATEWAY:5432, or the test registry's port, and its traffic
 * crosses its link (so `cut(i)` really cuts it off).
 *
 * Names carry the test process's pid; `destroy()` (idempotent) and `sweepStale()` (called by
 * createNetnsHosts) remove namespaces, links and socats whose owner pid is dead, also after a crash.
 */
import { type ChildProcess, execFile, execFileSync, type SpawnOptions, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const NETNS_PREFIX = 'agni-nh-';
/** root-side veth names: `anr<pid>x<i>` (≤ 15 chars: pids have ≤ 7 digits, hosts < 100) */
const LINK_RE = /^an[rp](\d+)x\d+$/;
const NS_RE = /^agni-nh-(\d+)-\d+$/;
/** socats started here carry this variable, so a sweep finds them by owner even when orphaned */
const OWNER_ENV = 'AGNI_NETNS_OWNER';
const NET = '10.231';

export interface NetnsHost {
  index: number;
  /** the namespace's name, for `ip netns exec` */
  ns: string;
  /** this host's own address (its eth0) */
  address: string;
  /** the root side of its link: where it reaches forwarded services */
  gateway: string;
  /** the root-side veth (down while cut) */
  rootLink: string;
}

export interface NetnsHosts {
  hosts: NetnsHost[];
  /** relays GATEWAY:listenPort of every host to 127.0.0.1:port in the root namespace */
  forward(port: number, listenPort?: number): Promise<void>;
  run(
    host: number,
    cmd: string,
    args?: string[],
    opts?: { input?: string; timeoutMs?: number },
  ): Promise<string>;
  spawn(host: number, cmd: string, args?: string[], opts?: SpawnOptions): ChildProcess;
  /** takes the host's link down at the root side: like an unplugged cable, its peer loses carrier */
  cut(host: number): Promise<void>;
  heal(host: number): Promise<void>;
  destroy(): Promise<void>;
}

function ip(args: string[]): Promise<string> {
  return execFileP('ip', args, { encoding: 'utf8' }).then((r) => r.stdout);
}

function ipQuiet(args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => NS_RE.test(n));
}

function links(): string[] {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '')
    .filter((n) => LINK_RE.test(n));
}

/** pids of processes whose environment names `owner` (any owner when undefined) as harness owner */
function ownedProcesses(owner?: number): { pid: number; owner: number }[] {
  const out: { pid: number; owner: number }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${d}/environ`, 'latin1');
    } catch {
      continue;
    }
    const m = new RegExp(`(?:^|\\0)${OWNER_ENV}=(\\d+)(?:\\0|$)`).exec(env);
    if (m && (owner === undefined || Number(m[1]) === owner))
      out.push({ pid: Number(d), owner: Number(m[1]) });
  }
  return out;
}

function killNamespace(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const p of pids) killQuiet(Number(p));
  } catch {
    // no such namespace
  }
  ipQuiet(['netns', 'delete', ns]);
}

function killQuiet(pid: number): void {
  if (!(pid > 0)) return; // kill(0) or kill(-1) would hit this process group or everything
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** removes everything of harnesses whose pid is `owner` (or, without one, whose pid is dead) */
export function sweepNetnsHosts(owner?: number): void {
  const mine = (pid: number) => (owner === undefined ? !alive(pid) : pid === owner);
  for (const p of ownedProcesses()) if (mine(p.owner)) killQuiet(p.pid);
  for (const ns of namespaces()) if (mine(Number(NS_RE.exec(ns)![1]))) killNamespace(ns);
  // the kernel tears a deleted namespace (and the veth peer in it) down asynchronously, and a
  // crash mid-setup leaves a veth whose peer never moved: delete the root side explicitly
  for (const l of links()) if (mine(Number(LINK_RE.exec(l)![1]))) ipQuiet(['link', 'delete', l]);
}

/** what of any harness `ip netns list` and `ip link` still show */
export function netnsLeftovers(owner: number): string[] {
  const ownsNs = (n: string) => Number(NS_RE.exec(n)![1]) === owner;
  const ownsLink = (n: string) => Number(LINK_RE.exec(n)![1]) === owner;
  return [
    ...namespaces().filter(ownsNs),
    ...links().filter(ownsLink),
    ...ownedProcesses(owner).map((p) => `process ${p.pid}`),
  ];
}

function usedSubnets(): Set<number> {
  const used = new Set<number>();
  const re = new RegExp(`inet ${NET.replace('.', '\\.')}\\.(\\d+)\\.`, 'g');
  for (const m of execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).matchAll(re))
    used.add(Number(m[1]));
  return used;
}

async function listening(host: string, port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`socat relay on ${host}:${port} did not start`);
    await sleep(20);
  }
}

/**
 * Serialises sweep, subnet choice and setup across test processes: the kernel happily gives two
 * veths the same address, so two harnesses must not both see 10.231.X as free. A directory is
 * the lock (mkdir is atomic); a lock whose holder died is taken over.
 */
const LOCK = '/run/agni-netns-hosts.lock';

function lockAge(): number {
  try {
    return statSync(LOCK).mtimeMs;
  } catch {
    return Date.now();
  }
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(`${LOCK}/pid`, String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder = 0;
      try {
        holder = Number(readFileSync(`${LOCK}/pid`, 'utf8'));
      } catch {
        // just made, pid not yet written
      }
      // no pid after a second: its maker died between mkdir and write
      const orphan = holder === 0 && Date.now() - lockAge() > 1000;
      if ((holder > 0 && !alive(holder)) || orphan) rmSync(LOCK, { recursive: true, force: true });
      else if (Date.now() > end) throw new Error(`netns-hosts: ${LOCK} held by pid ${holder}`);
      else await sleep(10);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

let exitHooked = false;
/** names carry only the pid, so one harness per process at a time */
let live = false;

export async function createNetnsHosts(count: number): Promise<NetnsHosts> {
  if (count < 1 || count > 99) throw new Error('netns-hosts: count must be 1..99');
  if (live) throw new Error('netns-hosts: this process already has a harness; destroy() it first');
  live = true;
  try {
    return await withLock(() => setUp(count));
  } catch (e) {
    live = false;
    throw e;
  }
}

async function setUp(count: number): Promise<NetnsHosts> {
  sweepNetnsHosts();
  const pid = process.pid;
  const used = usedSubnets();
  const free: number[] = [];
  for (let x = 1; x < 255 && free.length < count; x++) if (!used.has(x)) free.push(x);
  if (free.length < count) throw new Error(`netns-hosts: no free /24 left in ${NET}.0.0/16`);

  const hosts: NetnsHost[] = [];
  const relays: ChildProcess[] = [];
  const harness: NetnsHosts = {
    hosts,
    async forward(port, listenPort = port) {
      for (const h of hosts) {
        // nodelay on both legs: without it the relay's small writes wait on Nagle and the peer's
        // delayed ACK, about 40 ms per request/reply, which a real link between machines does not add
        const child = spawn(
          'socat',
          [
            `TCP-LISTEN:${listenPort},bind=${h.gateway},reuseaddr,fork,nodelay`,
            `TCP:127.0.0.1:${port},nodelay`,
          ],
          { stdio: 'ignore', env: { ...process.env, [OWNER_ENV]: String(pid) } },
        );
        // a test that forgets destroy() must still exit: the exit hook below sweeps instead
        child.unref();
        relays.push(child);
        await listening(h.gateway, listenPort, 5000);
      }
    },
    async run(host, cmd, args = [], opts = {}) {
      const { ns } = at(host);
      return new Promise((resolve, reject) => {
        const child = execFile(
          'ip',
          ['netns', 'exec', ns, cmd, ...args],
          {
            encoding: 'utf8',
            timeout: opts.timeoutMs ?? 10_000,
            env: { ...process.env, [OWNER_ENV]: String(pid) },
          },
          (err, stdout, stderr) => (err ? reject(Object.assign(err, { stdout, stderr })) : resolve(stdout)),
        );
        if (opts.input !== undefined) child.stdin?.end(opts.input);
      });
    },
    spawn(host, cmd, args = [], opts = {}) {
      const env = { ...(opts.env ?? process.env), [OWNER_ENV]: String(pid) };
      return spawn('ip', ['netns', 'exec', at(host).ns, cmd, ...args], { ...opts, env });
    },
    async cut(host) {
      await ip(['link', 'set', at(host).rootLink, 'down']);
    },
    async heal(host) {
      await ip(['link', 'set', at(host).rootLink, 'up']);
    },
    async destroy() {
      for (const r of relays) killQuiet(r.pid ?? 0);
      sweepNetnsHosts(pid);
      live = false;
    },
  };
  function at(i: number): NetnsHost {
    const h = hosts[i];
    if (!h) throw new Error(`netns-hosts: no host ${i}`);
    return h;
  }

  if (!exitHooked) process.once('exit', () => sweepNetnsHosts(pid));
  exitHooked = true;
  try {
    for (let i = 0; i < count; i++) {
      const x = free[i]!;
      const h: NetnsHost = {
        index: i,
        ns: `${NETNS_PREFIX}${pid}-${i}`,
        address: `${NET}.${x}.2`,
        gateway: `${NET}.${x}.1`,
        rootLink: `anr${pid}x${i}`,
      };
      const peer = `anp${pid}x${i}`;
      await ip(['netns', 'add', h.ns]);
      hosts.push(h);
      await ip(['link', 'add', h.rootLink, 'type', 'veth', 'peer', 'name', peer]);
      await ip(['link', 'set', peer, 'netns', h.ns]);
      await ip(['addr', 'add', `${h.gateway}/24`, 'dev', h.rootLink]);
      await ip(['link', 'set', h.rootLink, 'up']);
      const inNs = (args: string[]) => ip(['-n', h.ns, ...args]);
      await inNs(['link', 'set', 'lo', 'up']);
      await inNs(['link', 'set', peer, 'name', 'eth0']);
      await inNs(['addr', 'add', `${h.address}/24`, 'dev', 'eth0']);
      await inNs(['link', 'set', 'eth0', 'up']);
    }
  } catch (e) {
    await harness.destroy();
    throw e;
  }
  return harness;
}
