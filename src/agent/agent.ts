/**
 * The node agent turns a dispatched job into a sandbox on this node: it resolves the image to a
 * local root filesystem, adds the platform's environment, and picks how the sandbox is made:
 * a warm worker (lifecycle: warm), a prewarmed pool, or a fresh sandbox from the backend.
 */
import { existsSync } from 'node:fs';
import { AgniError } from '../core/errors.js';
import { contextEnv } from '../core/request-context.js';
import type { SecretRef } from '../core/secret-refs.js';
import {
  effectiveMode,
  type InputRef,
  insidePath,
  unknownVolumeError,
  type VolumeDecl,
} from '../core/volumes.js';
import type { DispatchRequest, LocalChannel, Placement } from '../dispatch/dispatch-request.js';
import type { NodeAgent, NodeInfo } from '../dispatch/node-agent.js';
import { type ImageFiles, resolveProcess, resolveUser } from '../image/oci/image-config.js';
import type { ImageRootfs } from '../image/oci/image-rootfs.js';
import { readImageFile } from '../image/oci/passwd.js';
import type { Backend, SandboxResult, SandboxSecret, SandboxSpec } from '../sandbox/backend.js';
import { HOST_GROUP, HOST_PASSWD } from '../sandbox/host-rootfs.js';
import { openFileInside } from '../sandbox/inside-dir.js';
import type { VersionRecord } from '../store/store.js';
import { bufferPayload } from './buffer-payload.js';
import type { BaseSpec, SandboxRunner } from './runner.js';

export const DEFAULT_MAX_BUFFERED_PAYLOAD = 16 * 1024 * 1024;
const ABORTED: SandboxResult = { outcome: 'failed', exitCode: null, signal: 'SIGKILL' };

/**
 * The values of the secrets a version names, read when a sandbox is made (cold, prewarmed or warm):
 * a secret set again later reaches the sandboxes made after it. `what` names the version in errors.
 */
export type SecretSource = (
  refs: readonly SecretRef[],
  what: string,
  /** the version whose manifest names them (a cluster agent asks the servers for that version's) */
  of: { function: string; version: number },
) => Promise<SandboxSecret[]>;

/** a directory (local rootfs image) or an OCI image's layers and config; `what` names the version in errors */
export type RootfsResolver = (imageId: string, what: string) => Promise<string | ImageRootfs | undefined>;

export interface AgentRunners {
  /** prewarmed sandboxes for cold-lifecycle functions; absent when the backend cannot prepare ahead */
  prewarm?: SandboxRunner;
  /** long-lived workers for lifecycle: warm */
  warm?: SandboxRunner;
}

async function imageFiles(layers: string[]): Promise<ImageFiles> {
  const [passwd, group] = await Promise.all([
    readImageFile(layers, 'etc/passwd'),
    readImageFile(layers, 'etc/group'),
  ]);
  return { ...(passwd ? { passwd } : {}), ...(group ? { group } : {}) };
}

/** the `host` runtime's skeleton /etc/passwd and /etc/group (src/sandbox/host-rootfs.ts) */
const HOST_FILES: ImageFiles = { passwd: HOST_PASSWD, group: HOST_GROUP };

/** agni.yaml `user`, names resolved through the image's /etc/passwd and /etc/group (never root). */
async function userOf(user: string, layers: string[]): Promise<{ uid: number; gid: number }> {
  return resolveUser(user, await imageFiles(layers));
}

/** The in-process node agent: the dispatcher sees it only as a NodeAgent. */
export class Agent implements NodeAgent {
  readonly placement: Placement;

  constructor(
    private readonly backend: Backend,
    private readonly resolveRootfs: RootfsResolver,
    readonly info: NodeInfo,
    private readonly runners: AgentRunners = {},
    /** a streamed payload for a warm function is buffered up to this many bytes */
    private readonly maxBufferedPayload = DEFAULT_MAX_BUFFERED_PAYLOAD,
    /** where secrets' values come from; a version that names secrets cannot run without it */
    private readonly secrets?: SecretSource,
    /** the volumes the operator declared on this node (`--volume NAME=/host/path[:ro|:rw]`) */
    private readonly volumes: readonly VolumeDecl[] = [],
  ) {
    this.placement = { node: info.node, backend: backend.name };
  }

  /** The version's sandbox spec without per-invocation values (shared by pools and workers). */
  async baseSpec(v: VersionRecord): Promise<SandboxSpec> {
    const spec = this.withVolumes(await this.imageSpec(v), v);
    const refs = v.manifest.secrets ?? [];
    if (refs.length === 0) return spec;
    const what = `${v.function} v${v.version}`;
    if (!this.secrets)
      throw new AgniError('backend_unavailable', `${what} needs secrets, and this node has no secret store`);
    return { ...spec, secrets: await this.secrets(refs, what, { function: v.function, version: v.version }) };
  }

  /** the names of this node's volumes (its heartbeat's `volumes`) */
  volumeNames(): string[] {
    return this.volumes.map((d) => d.name).sort();
  }

  /** The version's `volumes:` bound from this node's declarations; an unknown name is refused. */
  private withVolumes(spec: SandboxSpec, v: VersionRecord): SandboxSpec {
    const wanted = v.manifest.volumes ?? [];
    if (wanted.length === 0) return spec;
    const volumes = wanted.map((m, i) => {
      const decl = this.volumes.find((d) => d.name === m.name);
      if (!decl) throw unknownVolumeError(i, m.name, this.volumeNames(), `node ${this.placement.node}`);
      return { source: decl.hostPath, destination: m.path, readOnly: effectiveMode(m, decl) === 'ro' };
    });
    return { ...spec, volumes };
  }

  /**
   * A by-reference input: its in-sandbox path (AGNI_INPUT), and with `input: stdin` its bytes, read
   * from the volume on this node. The path was checked when the job was made (and names the file a
   * link there led to); a link put anywhere on it since is refused (stdin is read as root).
   */
  private async refInput(
    v: VersionRecord,
    ref: InputRef,
  ): Promise<{ env: Record<string, string>; payload?: import('node:stream').Readable }> {
    const index = (v.manifest.volumes ?? []).findIndex((m) => m.name === ref.volume);
    const mount = v.manifest.volumes?.[index];
    const decl = this.volumes.find((d) => d.name === ref.volume);
    if (!mount)
      throw new AgniError(
        'bad_request',
        `${v.function} v${v.version} does not mount volume ${ref.volume}, which its input is on`,
        { hint: `add \`volumes: [{name: ${ref.volume}, path: /data}]\` to its agni.yaml` },
      );
    if (!decl) throw unknownVolumeError(index, ref.volume, this.volumeNames(), `node ${this.placement.node}`);
    const env = { AGNI_INPUT: insidePath(mount.path, ref) };
    if (v.manifest.input !== 'stdin') return { env };
    // Opened following no link: a function that may write to the volume could put one in place of
    // a directory between a check of the path and its open, and stdin is read as root.
    const fh = await openFileInside(decl.hostPath, ref.path, `input ${ref.volume}:/${ref.path}`);
    return { env, payload: fh.createReadStream() };
  }

  private async imageSpec(v: VersionRecord): Promise<SandboxSpec> {
    const m = v.manifest;
    const hostRuntime = v.imageId === 'host';
    const what = `${v.function} v${v.version}`;
    const image = hostRuntime ? '' : await this.resolveRootfs(v.imageId, what);
    if (image === undefined) {
      throw new AgniError(
        'image_not_found',
        `image ${m.runtime} (${v.imageId}) of ${what} is not on node ${this.placement.node}`,
        {
          hint: `import it again with \`agni image import ${m.runtime} ROOTFS\` and redeploy`,
        },
      );
    }
    const common = {
      id: `${v.function}-v${v.version}`,
      hostRuntime,
      codeDir: v.codeDir,
      limits: m.limits,
      network: m.network,
      ...(m.allow ? { allow: m.allow } : {}),
    };
    const platformEnv = { AGNI_FUNCTION: v.function, AGNI_FUNCTION_VERSION: String(v.version) };
    if (typeof image !== 'string') {
      if (!this.backend.isolated) {
        // The process backend has no root of its own: the image's programs would be the host's.
        throw new AgniError(
          'backend_unavailable',
          `${what} runs on a registry image, which needs the runc backend`,
          {
            hint: 'start the server with `agni up --backend runc` (as root, with runc installed)',
          },
        );
      }
      // An OCI image: its config says what to run, agni.yaml overrides it (docs/images.md).
      const p = resolveProcess(
        image.config,
        {
          ...(m.entrypoint ? { entrypoint: m.entrypoint } : {}),
          ...(m.command.length > 0 ? { command: m.command } : {}),
          env: m.env,
          ...(m.workdir ? { workdir: m.workdir } : {}),
          ...(m.user !== undefined ? { user: m.user } : {}),
        },
        image.files,
        '/fn',
      );
      return {
        ...common,
        rootfs: '',
        layers: image.layers,
        args: p.args,
        env: { ...p.env, ...platformEnv },
        cwd: p.cwd,
        user: { uid: p.uid, gid: p.gid },
      };
    }
    return {
      ...common,
      rootfs: image,
      // Local images have no OCI config: agni.yaml's entrypoint + command is the whole argv.
      args: [...(m.entrypoint ?? []), ...m.command],
      env: { ...m.env, ...platformEnv },
      cwd: m.workdir ?? '/fn',
      ...(m.user === undefined
        ? {}
        : { user: hostRuntime ? resolveUser(m.user, HOST_FILES) : await userOf(m.user, [image]) }),
    };
  }

  async run(req: DispatchRequest, ch: LocalChannel): Promise<SandboxResult> {
    const signal = ch.io.signal;
    const r = signal?.aborted ? ABORTED : await this.runSandbox(req, ch);
    if (!signal?.aborted || r.outcome === 'ok') return r;
    // Stopped by its caller (e.g. the next stage of a pipe ended): not a deadline, and said so.
    const why = signal.reason instanceof Error ? signal.reason.message : 'stopped by the caller';
    ch.io.onStderr(Buffer.from(`agni: killed: ${why}\n`));
    return { ...r, outcome: 'failed', signal: 'SIGKILL' };
  }

  private async runSandbox(req: DispatchRequest, ch: LocalChannel): Promise<SandboxResult> {
    const v = req.version;
    let built: Promise<SandboxSpec> | undefined;
    const base: BaseSpec = () => {
      built ??= (async () => {
        // `agni rm` between the lookup and the start: say so, not what runc says of a missing mount.
        // Synchronous: a local directory's stat is microseconds, a promise stat a thread-pool round
        // trip. (A call an idle warm worker takes needs no check: a removal drains the workers.)
        if (!existsSync(v.codeDir)) {
          throw new AgniError(
            'function_not_found',
            `${v.function} was removed before this call could start`,
            {
              hint: 'deploy it again with `agni deploy DIR`',
            },
          );
        }
        return this.baseSpec(v);
      })();
      return built;
    };
    // Built before the deadline is set (a cluster counts that as the start: till then a lost node's
    // call is placed again, even while its image is still being fetched), unless an idle warm
    // worker will take the call.
    const warm = v.manifest.lifecycle === 'warm' ? this.runners.warm : undefined;
    if (!warm?.idle?.(v)) await base();
    // The deadline is absolute (Unix ms), so a function can budget its own work against it. A
    // per-call timeout only ever shortens the function's limit.
    const limit = v.manifest.limits.timeoutMs;
    const timeoutMs = Math.min(req.timeoutMs ?? limit, limit);
    const deadline = Date.now() + timeoutMs;
    ch.hooks.onDeadline?.(deadline);
    let env = contextEnv(req.http);
    let payload = ch.payload;
    const ref = req.input ? await this.refInput(v, req.input) : undefined;
    if (ref) {
      env = { ...env, ...ref.env };
      if (ref.payload) payload = ref.payload;
    }
    try {
      return await this.start(req, ch, base, { env, payload, deadline, timeoutMs });
    } finally {
      // the file we opened for stdin is ours to close, however the sandbox ended
      ref?.payload?.destroy();
    }
  }

  private async start(
    req: DispatchRequest,
    ch: LocalChannel,
    base: BaseSpec,
    o: {
      env: Record<string, string>;
      payload: Buffer | import('node:stream').Readable;
      deadline: number;
      timeoutMs: number;
    },
  ): Promise<SandboxResult> {
    const v = req.version;
    const { env, payload, deadline, timeoutMs } = o;
    const inv = {
      id: req.invocationId,
      deadline,
      env,
      payload,
      io: ch.io,
      hooks: ch.hooks,
      ...(req.lambda ? { lambda: req.lambda } : {}),
    };
    if (v.manifest.lifecycle === 'warm' && this.runners.warm) {
      const mode = v.manifest.protocol === 'lambda' ? 'lambda' : 'warm';
      if (Buffer.isBuffer(payload)) return { ...(await this.runners.warm.run(v, base, inv)), mode };
      // A warm call's frame starts with the payload's length, so a stream is read whole first.
      const got = await bufferPayload(payload, this.maxBufferedPayload, deadline, ch.io.signal, v);
      if (!Buffer.isBuffer(got)) return got;
      const r = await this.runners.warm.run(v, base, { ...inv, payload: got });
      return { ...r, stdinBytes: got.length, mode };
    }
    if (v.manifest.pool.max > 0 && this.runners.prewarm) return this.runners.prewarm.run(v, base, inv);
    const cold = await base();
    const spec: SandboxSpec = {
      ...cold,
      id: req.invocationId,
      limits: { ...cold.limits, timeoutMs },
      env: { ...cold.env, ...env, AGNI_INVOCATION_ID: req.invocationId, AGNI_DEADLINE_MS: String(deadline) },
    };
    return { ...(await this.backend.run(spec, { stdin: payload, ...ch.io }, ch.hooks)), mode: 'cold' };
  }

  /** "fn@version" held warm or prewarmed on this node now (its heartbeat's `warm`) */
  warmVersions(): string[] {
    return [...new Set([...(this.runners.prewarm?.held?.() ?? []), ...(this.runners.warm?.held?.() ?? [])])];
  }

  /** A new version was deployed or a function removed: kept sandboxes of old versions go. */
  async drain(fn: string, keep?: number): Promise<void> {
    await Promise.all([this.runners.prewarm?.drain(fn, keep), this.runners.warm?.drain(fn, keep)]);
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.runners.prewarm?.shutdown(), this.runners.warm?.shutdown()]);
  }
}
