/**
 * A private loopback port for one runc sandbox: a network namespace made before the container
 * (`ip netns add`, only `lo`, up), joined by runc, with socat inside it listening on
 * 127.0.0.1:PORT and forwarding each connection to a Unix socket on the host. The port exists
 * only in that namespace: not on the host's loopback, not in any other sandbox. The forwarder
 * runs on the host side (it is the host's socat, whatever the image's architecture).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { AgniError } from '../core/errors.js';

const execFileP = promisify(execFile);
const READY_WAIT_MS = 5000;
/**
 * socat forks a host process per connection: outside the sandbox's pids limit, so the sandbox
 * could otherwise multiply host processes by opening connections. Past this many, further
 * connections wait in the listen backlog until one closes.
 */
export const MAX_FORWARD_CONNECTIONS = 8;

export interface LoopbackForward {
  /** the namespace's path, for runc's `namespaces: [{type: network, path}]` */
  readonly netns: string;
  /** kills the forwarder (and its per-connection children) and deletes the namespace; idempotent */
  close(): Promise<void>;
}

/** Namespace names carry a tag of the Agni home, so recovery never touches another instance's. */
export function netnsPrefix(home: string): string {
  return `agni-${createHash('sha256').update(home).digest('hex').slice(0, 8)}-`;
}

/** The LISTEN line of 127.0.0.1:port in a /proc/PID/net/tcp table (the process's own namespace). */
export function listensOn(table: string, port: number): boolean {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return table.split('\n').some((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === want && f[3] === '0A';
  });
}

async function ip(...args: string[]): Promise<void> {
  await execFileP('ip', args);
}

/** Resolves once socat listens inside the namespace; rejects when it exited or never did. */
async function waitListening(child: ChildProcess, port: number, stderr: () => string): Promise<void> {
  const until = Date.now() + READY_WAIT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the forwarder exited: ${stderr().trim() || `code ${child.exitCode}`}`);
    // `ip netns exec` execs socat in place: same pid, and /proc/PID/net is the namespace's.
    const table = await readFile(`/proc/${child.pid}/net/tcp`, 'utf8').catch(() => '');
    if (listensOn(table, port)) return;
    if (Date.now() > until) throw new Error(`the forwarder did not listen within ${READY_WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function openLoopbackForward(
  name: string,
  port: number,
  socket: string,
): Promise<LoopbackForward> {
  let child: ChildProcess | undefined;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        child.ref(); // unref'd while it serves: waiting for its exit must keep the loop alive
        const gone = new Promise((r) => child?.once('exit', r));
        try {
          process.kill(-child.pid, 'SIGKILL'); // its process group: socat and its forks
        } catch {
          // already gone
        }
        await gone;
      }
      await ip('netns', 'delete', name).catch(() => {});
    })();
    return closed;
  };
  try {
    await ip('netns', 'add', name);
    await ip('-n', name, 'link', 'set', 'lo', 'up');
    let err = '';
    child = spawn(
      'ip',
      [
        'netns',
        'exec',
        name,
        'socat',
        `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr,max-children=${MAX_FORWARD_CONNECTIONS}`,
        `UNIX-CONNECT:${socket}`,
      ],
      { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.on('data', (c: Buffer) => {
      if (err.length < 4096) err += c.toString();
    });
    child.once('error', () => {});
    await waitListening(child, port, () => err);
    child.unref();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
  } catch (e) {
    await close();
    const msg = (e as Error).message;
    throw new AgniError('sandbox_error', `cannot make the sandbox's loopback forward: ${msg}`, {
      hint: 'the runc backend needs `ip` (iproute2) and `socat`: run scripts/setup.sh',
    });
  }
  return { netns: `/run/netns/${name}`, close };
}

/** Deletes namespaces of this home that no running sandbox owns, and kills what is still inside them. */
export async function removeLeftoverForwards(
  prefix: string,
  keep: (name: string) => boolean,
): Promise<number> {
  let names: string[];
  try {
    const { stdout } = await execFileP('ip', ['netns', 'list']);
    names = stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '');
  } catch {
    return 0;
  }
  let count = 0;
  for (const name of names) {
    if (!name.startsWith(prefix) || keep(name)) continue;
    try {
      const { stdout } = await execFileP('ip', ['netns', 'pids', name]);
      for (const pid of stdout.split('\n').filter((p) => /^\d+$/.test(p.trim())))
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // exited meanwhile
        }
    } catch {
      // no pids
    }
    await ip('netns', 'delete', name).catch(() => {});
    count++;
  }
  return count;
}
