/**
 * A Backend makes isolated sandboxes. The agent only ever talks to this interface, so the
 * isolation technology (runc, plain processes, later microVMs) is chosen at the composition root.
 */
export interface SandboxLimits {
  memoryBytes: number;
  /** fractional cores, e.g. 0.5 */
  cpus: number;
  pids: number;
  timeoutMs: number;
}

export type NetworkMode = 'none' | 'host';

export interface SandboxSpec {
  /** unique, [a-z0-9-], also used as the runc container id and cgroup leaf */
  id: string;
  /** root filesystem directory; ignored when hostRuntime is true (the backend uses its thin-jail skeleton) */
  rootfs: string;
  /** the `host` runtime: host /usr, /bin, /lib* mounted read-only under an empty skeleton root */
  hostRuntime: boolean;
  /** the function's files, mounted read-only at /fn */
  codeDir: string;
  args: string[];
  env: Record<string, string>;
  /** working directory inside the sandbox */
  cwd: string;
  limits: SandboxLimits;
  network: NetworkMode;
  /** platform files bind-mounted read-only (e.g. the prewarm gate, warm-protocol helpers) */
  extraMounts?: { source: string; destination: string }[];
}

export interface SandboxIO {
  stdin: Buffer;
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
}

export interface SandboxHooks {
  /** the sandbox is prepared (bundle written, mounts ready) and about to start */
  onReady?(): void;
  /** the user's process has been spawned */
  onStarted?(): void;
}

export type SandboxOutcome = 'ok' | 'failed' | 'timeout' | 'oom';

export interface SandboxResult {
  outcome: SandboxOutcome;
  exitCode: number | null;
  signal: string | null;
}

export interface BackendStatus {
  ok: boolean;
  reason?: string;
}

export interface Backend {
  readonly name: 'runc' | 'process';
  /** false for the process backend: printed loudly by `agni up` */
  readonly isolated: boolean;
  available(): Promise<BackendStatus>;
  /** Runs one sandbox to completion. Rejects only on infrastructure failure (AgniError sandbox_error). */
  run(spec: SandboxSpec, io: SandboxIO, hooks?: SandboxHooks): Promise<SandboxResult>;
  /** Removes whatever a previous, crashed instance left behind. Returns how many items were cleaned. */
  recover(): Promise<number>;
  /** Kills running sandboxes and waits until everything they used is released. Safe to call twice. */
  shutdown(): Promise<void>;
}
