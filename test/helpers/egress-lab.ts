/**
 * A "lab network" for `network: egress` tests, on the real kernel: a namespace `agni-lab-<pid>`
 * joined to the root namespace by a veth (root side `alab<pid>` = 10.90.X.1/24, lab side 10.90.X.2
 * and 10.90.X.3), a lab address 169.254.169.254 (metadata's) routed to it from the host, and Node
 * listeners in the lab that answer `ok-<name>` on connect. `destroy()` removes it all.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Lab {
  ns: string;
  /** root side of the lab link */
  gateway: string;
  allowed: string;
  forbidden: string;
  /** starts a listener in the lab on addr:port answering `ok-<name>` */
  listen(addr: string, port: number, name: string): Promise<void>;
  destroy(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function quiet(f: () => void): void {
  try {
    f();
  } catch {
    // already gone
  }
}

export const METADATA = '169.254.169.254';

export function createLab(): Lab {
  const ns = `agni-lab-${process.pid}`;
  const link = `alab${process.pid}`;
  const x = process.pid % 250;
  const gateway = `10.90.${x}.1`;
  const allowed = `10.90.${x}.2`;
  const forbidden = `10.90.${x}.3`;
  const children: ChildProcess[] = [];
  const destroy = () => {
    for (const c of children) quiet(() => process.kill(-c.pid!, 'SIGKILL'));
    quiet(() => ip('route', 'del', `${METADATA}/32`, 'via', allowed));
    quiet(() => ip('link', 'del', link));
    quiet(() => ip('netns', 'del', ns));
  };
  destroy();
  ip('netns', 'add', ns);
  ip('link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  ip('addr', 'add', `${gateway}/24`, 'dev', link);
  ip('link', 'set', link, 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'addr', 'add', `${allowed}/24`, 'dev', 'eth0');
  ip('-n', ns, 'addr', 'add', `${forbidden}/24`, 'dev', 'eth0');
  ip('-n', ns, 'addr', 'add', `${METADATA}/32`, 'dev', 'lo');
  ip('-n', ns, 'link', 'set', 'eth0', 'up');
  ip('-n', ns, 'route', 'add', 'default', 'via', gateway);
  ip('route', 'add', `${METADATA}/32`, 'via', allowed);
  return {
    ns,
    gateway,
    allowed,
    forbidden,
    async listen(addr, port, name) {
      const c = spawn(
        'ip',
        [
          'netns',
          'exec',
          ns,
          // Node, not socat with SYSTEM:echo: socat wrote the client's request into the finished
          // echo, got EPIPE and dropped the connection without the answer (7.5% of connections
          // under load), which read as "unreachable" to a probe of an allowed address.
          process.execPath,
          '-e',
          `require('node:net').createServer((c) => { c.on('error', () => {}); c.end('ok-${name}\\n'); }).listen(${port}, '${addr}')`,
        ],
        { detached: true, stdio: 'ignore' },
      );
      children.push(c);
      for (let i = 0; i < 1000; i++) {
        const t = execFileSync('ip', ['netns', 'exec', ns, 'ss', '-Hltn', `src ${addr}:${port}`], {
          encoding: 'utf8',
        });
        if (t.trim()) return;
        await sleep(10);
      }
      throw new Error(`lab listener ${addr}:${port} did not start`);
    },
    destroy,
  };
}

/** Agni's egress leftovers of one home: namespaces, host-side veths, iptables lines. */
export function egressLeftovers(tag: string): string[] {
  const out: string[] = [];
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const l of ns.split('\n')) if (l.startsWith(`agni-${tag}-`)) out.push(`netns ${l.split(' ')[0]}`);
  for (const t of ['filter', 'nat']) {
    const saved = execFileSync('iptables-save', ['-t', t], { encoding: 'utf8' });
    for (const l of saved.split('\n'))
      if (l.includes(`agni-${tag}-`) || l.includes(`AG-${tag}-`)) out.push(`iptables ${t}: ${l}`);
  }
  return out;
}

/** host-side veths of every Agni home (agni-e<slot>) */
export function egressLinks(): string[] {
  const t = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return [...t.matchAll(/^\d+: (agni-e\d+)[@:]/gm)].map((m) => m[1]!);
}
