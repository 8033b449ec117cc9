/**
 * A NATS server (with JetStream) and a PostgreSQL cluster of a test's own, on free loopback ports
 * with their data in temporary directories, so a cluster test can stop and start them mid-run (a
 * real restart: the process ends and a new one starts on the same data) without disturbing the
 * machine's shared services other tests use.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './registry.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** resolves once something accepts TCP connections on 127.0.0.1:port */
export async function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing answers on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

export interface OwnService {
  port: number;
  url: string;
  /** ends the process (SIGTERM, then SIGKILL) and waits for it */
  stop(): Promise<void>;
  /** starts it again on the same port and data */
  start(): Promise<void>;
  /** stops it and removes its data; idempotent */
  destroy(): Promise<void>;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** nats-server -js on a free port, its JetStream store in a temp dir that survives restarts */
export async function startOwnNats(): Promise<OwnService> {
  const dir = mkdtempSync(join(tmpdir(), 'agni-nats-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('nats-server', ['-js', '-sd', dir, '-a', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    await waitForPort(port);
  };
  await start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    start,
    stop: () => stopChild(child),
    async destroy() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `pg_ctl stop` as the postgres user; a cluster already down is no error */
function pgCtlStop(data: string, mode: 'fast' | 'immediate'): void {
  try {
    execFileSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', data, '-m', mode, 'stop'], {
      stdio: 'ignore',
    });
  } catch {
    /* not running */
  }
}

/**
 * A PostgreSQL 15 cluster of its own (initdb as the postgres user, trust auth on loopback), with one
 * database `agni`. Its URL is postgres://postgres@127.0.0.1:PORT/agni.
 */
export async function startOwnPostgres(): Promise<OwnService> {
  const dir = mkdtempSync(join(tmpdir(), 'agni-pg-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(dir, uid, gid);
  execFileSync(
    'runuser',
    ['-u', 'postgres', '--', `${PG_BIN}/initdb`, '-D', data, '-A', 'trust', '-U', 'postgres'],
    {
      stdio: 'ignore',
    },
  );
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        `${PG_BIN}/postgres`,
        '-D',
        data,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${dir}`,
        '-c',
        'fsync=off',
      ],
      { stdio: ['ignore', 'ignore', 'ignore'] },
    );
    await waitForPort(port);
    // Accepting connections is not yet accepting queries (recovery after a stop): wait for that too.
    const until = Date.now() + 20_000;
    for (;;) {
      try {
        execFileSync(`${PG_BIN}/pg_isready`, ['-h', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
        break;
      } catch {
        if (Date.now() > until) throw new Error(`PostgreSQL on ${port} never became ready`);
        await sleep(100);
      }
    }
  };
  await start();
  execFileSync(`${PG_BIN}/createdb`, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'agni'], {
    stdio: 'ignore',
  });
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/agni`,
    start,
    // SIGTERM to runuser is passed on to postgres (smart shutdown would wait for clients: use fast).
    stop: async () => {
      if (child?.pid) pgCtlStop(data, 'fast');
      await stopChild(child);
    },
    async destroy() {
      pgCtlStop(data, 'immediate');
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
