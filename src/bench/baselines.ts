/**
 * The floors a sandbox start is compared with, each run on the same root filesystem:
 * fork/exec, namespaces + chroot (`unshare`), raw `runc run` of Agni's own OCI config,
 * and `docker run --rm` when a Docker engine answers.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stamp } from '../core/phases.js';
import type { SandboxSpec } from '../sandbox/backend.js';
import { ensureHostSkeleton } from '../sandbox/host-rootfs.js';
import { buildOciSpec } from '../sandbox/oci-spec.js';
import { defaultSeccompProfile } from '../sandbox/seccomp.js';
import type { BaselineName } from './cold-modes.js';

const execFileP = promisify(execFile);

export interface Baseline {
  name: BaselineName;
  label: string;
  /** why it cannot run here, if it cannot */
  unavailable?: string;
  once(): Promise<number>;
}

/** Times one command from spawn to exit; a non-zero exit is an error (the baseline is broken). */
export function timeCommand(cmd: string, args: string[]): Promise<number> {
  const t0 = stamp();
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0
        ? resolve(stamp() - t0)
        : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`)),
    );
  });
}

export async function dockerImage(rootfs: string): Promise<string | { unavailable: string }> {
  try {
    await execFileP('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5000 });
  } catch {
    return { unavailable: 'no Docker engine answers (run scripts/setup-docker.sh)' };
  }
  const tag = `agni-bench:${createHash('sha256').update(rootfs).digest('hex').slice(0, 12)}`;
  const has = await execFileP('docker', ['image', 'inspect', tag]).then(
    () => true,
    () => false,
  );
  if (!has) {
    await new Promise<void>((resolve, reject) => {
      const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const imp = spawn('docker', ['import', '-', tag], { stdio: ['pipe', 'ignore', 'inherit'] });
      tar.stdout.pipe(imp.stdin);
      imp.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`docker import exited ${c}`))));
    });
  }
  return tag;
}

export interface BaselineInput {
  /** the image's root filesystem; undefined for the host runtime */
  rootfs: string | undefined;
  args: string[];
  scratch: string;
  limits: SandboxSpec['limits'];
}

export async function makeBaselines(names: BaselineName[], o: BaselineInput): Promise<Baseline[]> {
  const out: Baseline[] = [];
  const rootfs = o.rootfs;
  const [cmd, ...rest] = o.args;
  for (const name of names) {
    if (name === 'fork') {
      // A static binary inside the rootfs runs as is on the host; otherwise the host's own command.
      const inRoot =
        rootfs && cmd?.startsWith('/') && existsSync(join(rootfs, cmd)) ? join(rootfs, cmd) : cmd!;
      out.push({ name, label: 'fork/exec', once: () => timeCommand(inRoot, rest) });
    } else if (name === 'unshare') {
      const root = rootfs ?? '/';
      out.push({
        name,
        label: 'unshare + chroot',
        once: () =>
          timeCommand('unshare', [
            '--pid',
            '--mount',
            '--ipc',
            '--uts',
            '--net',
            '--fork',
            'chroot',
            root,
            ...o.args,
          ]),
      });
    } else if (name === 'runc') {
      const bundle = join(o.scratch, 'raw-runc-bundle');
      const code = join(o.scratch, 'raw-runc-code');
      mkdirSync(code, { recursive: true });
      mkdirSync(bundle, { recursive: true });
      const hostRoot = join(o.scratch, 'raw-runc-host-root');
      const hostMounts = rootfs ? [] : ensureHostSkeleton(hostRoot);
      const spec: SandboxSpec = {
        id: 'raw',
        rootfs: rootfs ?? hostRoot,
        hostRuntime: !rootfs,
        codeDir: code,
        args: o.args,
        env: {},
        cwd: '/fn',
        limits: o.limits,
        network: 'none',
      };
      const config = buildOciSpec(spec, {
        rootfs: rootfs ?? hostRoot,
        hostMounts,
        uid: 65534,
        gid: 65534,
        seccomp: defaultSeccompProfile(),
      });
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
      const root = join(o.scratch, 'raw-runc-state');
      let k = 0;
      out.push({
        name,
        label: 'raw runc run',
        once: () =>
          timeCommand('runc', ['--root', root, 'run', '--bundle', bundle, `raw-${process.pid}-${k++}`]),
      });
    } else if (name === 'docker') {
      const image = rootfs
        ? await dockerImage(rootfs)
        : { unavailable: 'needs an image runtime (the host runtime has no image)' };
      if (typeof image !== 'string')
        out.push({
          name,
          label: 'docker run --rm',
          unavailable: image.unavailable,
          once: async () => Number.NaN,
        });
      else
        out.push({
          name,
          label: 'docker run --rm',
          once: () => timeCommand('docker', ['run', '--rm', '--network', 'none', image, ...o.args]),
        });
    }
  }
  return out;
}
