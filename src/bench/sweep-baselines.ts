/**
 * The sweep's references outside Agni: the function's command on the bare host, and in
 * `docker run --rm` when a Docker engine answers. "The same command" is what the process backend
 * would run: argv = agni.yaml's entrypoint + command, `/fn` and each volume's mount path rewritten
 * to host directories (a copy of the function directory; the volumes' host paths), working
 * directory the function's copy, environment agni.yaml's `env` plus a sandbox's PATH (not this
 * shell's: it may find another interpreter first), HOME=/tmp and AGNI_FUNCTION, the payload on stdin, the function's timeout as a kill.
 */
import { spawn } from 'node:child_process';
import { AgniError } from '../core/errors.js';
import type { Manifest } from '../core/manifest.js';
import { stamp } from '../core/phases.js';
import type { VolumeDecl } from '../core/volumes.js';
import { mapFnPaths, mapMountPaths } from '../sandbox/process-backend.js';
import { dockerImage } from './baselines.js';
import { SANDBOX_PATH } from './sweep-variant.js';

/** one replicate's outcome, as an invocation's is read */
export interface RunOutcome {
  wallMs: number;
  /** ok, failed, timeout (an invocation's: its record's status, `succeeded` as ok) */
  status: string;
  stdout: string;
}

export interface BaselineRunner {
  mode: 'host' | 'docker';
  once(payload: Buffer): Promise<RunOutcome>;
}

/** stdout kept per replicate: metrics are one line, a huge output is not the sweep's to hold */
const MAX_STDOUT = 4 * 1024 * 1024;

function runOnce(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
  payload: Buffer,
): Promise<RunOutcome> {
  const t0 = stamp();
  return new Promise((resolve) => {
    const p = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: true,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    p.stdout.on('data', (d: Buffer) => {
      if (size < MAX_STDOUT) chunks.push(d);
      size += d.length;
    });
    p.stdin.on('error', () => {});
    p.stdin.end(payload);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, opts.timeoutMs);
    const done = (status: RunOutcome['status']) => {
      clearTimeout(timer);
      resolve({ wallMs: stamp() - t0, status, stdout: Buffer.concat(chunks).toString('utf8') });
    };
    p.once('error', () => done('failed'));
    p.once('close', (code) => done(timedOut ? 'timeout' : code === 0 ? 'ok' : 'failed'));
  });
}

export interface BaselineSetup {
  manifest: Manifest;
  /** a copy of the function directory, standing for /fn */
  fnDir: string;
  volumes: VolumeDecl[];
  /** the image runtime's root filesystem (docker imports it); undefined for runtime: host */
  rootfs: string | undefined;
}

export function argvOf(m: Manifest): string[] {
  return [...(m.entrypoint ?? []), ...m.command];
}

/** The host runner, or why there is none. */
export function hostRunner(o: BaselineSetup): BaselineRunner | string {
  const argv = argvOf(o.manifest);
  if (argv.length === 0)
    return 'host: agni.yaml has no command (the image decides it), so there is none to run on the host';
  const mounts = (o.manifest.volumes ?? []).map((v) => {
    const decl = o.volumes.find((d) => d.name === v.name);
    if (!decl)
      throw new AgniError('bad_request', `volume ${v.name} of agni.yaml: not declared`, {
        hint: `pass --volume ${v.name}=/host/dir[:ro]`,
      });
    return { source: decl.hostPath, destination: v.path };
  });
  const map = (s: string) => mapMountPaths(mapFnPaths(s, o.fnDir), mounts);
  const [cmd, ...args] = argv.map(map);
  const env = {
    PATH: SANDBOX_PATH,
    HOME: '/tmp',
    ...Object.fromEntries(Object.entries(o.manifest.env).map(([k, v]) => [k, map(v)])),
    AGNI_FUNCTION: o.manifest.name,
  };
  return {
    mode: 'host',
    once: (payload) =>
      runOnce(cmd!, args, { cwd: o.fnDir, env, timeoutMs: o.manifest.limits.timeoutMs }, payload),
  };
}

/** The docker runner, or why there is none (no engine, no image to give it). */
export async function dockerRunner(o: BaselineSetup): Promise<BaselineRunner | string> {
  const argv = argvOf(o.manifest);
  if (argv.length === 0) return 'docker: agni.yaml has no command';
  if (!o.rootfs) return 'docker: runtime host has no image to run in a container';
  const image = await dockerImage(o.rootfs);
  if (typeof image !== 'string') return `docker: ${image.unavailable}`;
  const m = o.manifest;
  const args = [
    'run',
    '--rm',
    '-i',
    '--network',
    m.network === 'host' ? 'host' : 'none',
    '--memory',
    String(m.limits.memoryBytes),
    '--cpus',
    String(m.limits.cpus),
    '-v',
    `${o.fnDir}:/fn:ro`,
    '-w',
    m.workdir ?? '/fn',
    '-e',
    `AGNI_FUNCTION=${m.name}`,
    ...Object.entries(m.env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ...(m.volumes ?? []).flatMap((v) => {
      const decl = o.volumes.find((d) => d.name === v.name);
      const ro = v.mode !== 'rw' || decl?.mode !== 'rw';
      return decl ? ['-v', `${decl.hostPath}:${v.path}${ro ? ':ro' : ''}`] : [];
    }),
    image,
    ...argv,
  ];
  return {
    mode: 'docker',
    once: (payload) => runOnce('docker', args, { timeoutMs: m.limits.timeoutMs + 10_000 }, payload),
  };
}
