import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const CLI = resolve('dist/src/cli/main.js');

export interface AgniUp {
  p: ChildProcess;
  url: string;
  /** everything the server printed so far, stdout and stderr */
  out(): string;
}

/** Runs a real `agni up` on a free port with `home` (and `env` added to ours); resolves once its start banner (URL and backend) is out. */
export function spawnAgniUp(
  home: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<AgniUp> {
  const p = spawn(process.execPath, [CLI, 'up', '--port', '0', '--home', home, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`agni up did not start: ${out}`)), 15000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && /agni up: backend /.test(out)) {
        clearTimeout(timer);
        res({ p, url: m[1]!, out: () => out });
      }
    };
    p.stdout!.on('data', onData);
    p.stderr!.on('data', onData);
    p.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`agni up exited ${code}: ${out}`));
    });
  });
}

/**
 * Stops a server as its operator would (SIGTERM), so it removes its sandboxes, prewarmed ones
 * with their cgroups included; SIGKILL only if it hangs. A SIGKILL alone leaves their cgroups
 * behind until some later `agni up` sweeps them as stale.
 */
export async function stopAgniUp(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * One `agni ARGS` against the server at `url`, through a shell so `input` arrives on a pipe (as
 * for `--password-stdin`); without it stdin is /dev/null, never the test runner's.
 */
export async function runCli(
  url: string,
  args: string[],
  input?: string,
  env: Record<string, string> = {},
): Promise<CliRun> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  try {
    const r = await promisify(execFile)(
      'bash',
      [
        '-c',
        `${input === undefined ? '' : 'printf %s "$INPUT" | '}node ${CLI} "$@"${input === undefined ? ' </dev/null' : ''}`,
        'agni',
        ...args,
      ],
      { env: { ...process.env, ...env, AGNI_URL: url, INPUT: input ?? '' } },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}
