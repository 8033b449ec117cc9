/**
 * The node agent turns a dispatched job into a sandbox on this node: it resolves the image to a
 * local root filesystem and adds the platform's environment. Pools (prewarming) will live here.
 */
import { AgniError } from '../core/errors.js';
import type { DispatchJob, Placement } from '../dispatch/dispatcher.js';
import type { Backend, SandboxResult, SandboxSpec } from '../sandbox/backend.js';

export type RootfsResolver = (imageId: string) => Promise<string | undefined>;

export class Agent {
  readonly placement: Placement;

  constructor(
    private readonly backend: Backend,
    private readonly resolveRootfs: RootfsResolver,
    node: string,
  ) {
    this.placement = { node, backend: backend.name };
  }

  async run(job: DispatchJob): Promise<SandboxResult> {
    const v = job.version;
    const m = v.manifest;
    const hostRuntime = v.imageId === 'host';
    const rootfs = hostRuntime ? '' : await this.resolveRootfs(v.imageId);
    if (rootfs === undefined) {
      throw new AgniError(
        'image_not_found',
        `image ${m.runtime} (${v.imageId}) of ${v.function} v${v.version} is not on node ${this.placement.node}`,
        {
          hint: `import it again with \`agni image import ${m.runtime} ROOTFS\` and redeploy`,
        },
      );
    }
    // The deadline is absolute (Unix ms), so a function can budget its own work against it.
    const deadline = Date.now() + m.limits.timeoutMs;
    const spec: SandboxSpec = {
      id: job.invocationId,
      rootfs,
      hostRuntime,
      codeDir: v.codeDir,
      args: m.command,
      env: {
        ...m.env,
        AGNI_FUNCTION: v.function,
        AGNI_FUNCTION_VERSION: String(v.version),
        AGNI_INVOCATION_ID: job.invocationId,
        AGNI_DEADLINE_MS: String(deadline),
      },
      cwd: '/fn',
      limits: m.limits,
      network: m.network,
    };
    return this.backend.run(spec, { stdin: job.payload, ...job.io }, job.hooks);
  }
}
