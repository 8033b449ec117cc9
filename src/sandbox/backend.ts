import type { Readable } from 'node:stream';
import type { AllowEntry } from '../core/egress-allow.js';
import type { RunMode } from '../core/metrics.js';

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

/** none: only lo; host: the host's network; egress: own namespace, NAT, only `allow` reachable (docs/network.md) */
export type NetworkMode = 'none' | 'host' | 'egress';

/** A secret a sandbox gets as /run/secrets/NAME (and, with `env`, as that variable). In clear: never logged. */
export interface SandboxSecret {
  name: string;
  value: Buffer;
  env?: string;
}

/** A host directory bound into the sandbox (a volume); never named by a function, only by the operator. */
export interface SandboxVolume {
  source: string;
  destination: string;
  readOnly: boolean;
}

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
  /** network egress only: the destinations it may reach (names are resolved when it is set up) */
  allow?: AllowEntry[];
  /**
   * Operator-declared host directories (agni.yaml `volumes:`), bound at `destination`; read-only
   * ones are remounted read-only recursively, so a write fails with EROFS even on submounts.
   */
  volumes?: SandboxVolume[];
  /** platform files bind-mounted read-only (e.g. the prewarm gate, warm-protocol helpers) */
  extraMounts?: { source: string; destination: string }[];
  /**
   * Unpacked image layer directories, top first. When set (and not hostRuntime), the root is an
   * overlayfs of them with a throw-away upper dir in the sandbox's own directory; `rootfs` is ignored.
   */
  layers?: string[];
  /** with `layers` only: the root is mounted writable (writes land in the throw-away upper dir) */
  writableRoot?: boolean;
  /** the process's uid/gid (default 65534:65534); never 0: see docs/images.md */
  user?: { uid: number; gid: number };
  /**
   * With network none: 127.0.0.1:`port` inside the sandbox (and nowhere else) forwards to the host's
   * Unix socket `socket` (the Lambda Runtime API). Backends without network namespaces refuse it.
   */
  loopbackForward?: { port: number; socket: string };
  /**
   * Files for /run/secrets (read-only, mode 0400, owned by the sandbox's user, on a tmpfs). Backends
   * that cannot keep them off the host's disk refuse them. Never part of anything logged or stored.
   */
  secrets?: SandboxSecret[];
}

export interface SandboxIO {
  /**
   * The payload. A stream is read only as fast as the sandbox reads its stdin (backpressure) and is
   * never ended or destroyed by the backend: once the sandbox exited, its owner gets it back (paused).
   */
  stdin: Buffer | Readable;
  /**
   * A returned promise holds the sandbox's stdout until it settles (backpressure from the consumer);
   * any other return value is ignored.
   */
  onStdout(chunk: Buffer): unknown;
  onStderr(chunk: Buffer): void;
  /** Aborting kills the sandbox; the run then ends like a deadline kill (outcome timeout). */
  signal?: AbortSignal;
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
  /** how the sandbox was had (set by the agent and its runners; metrics and the invocation log) */
  mode?: RunMode;
  exitCode: number | null;
  signal: string | null;
  /** set for a streamed payload only: the bytes the sandbox actually took (a buffer's size is known) */
  stdinBytes?: number;
  /**
   * `protocol: lambda` only: the function reported an error (the Runtime API's `…/error` or
   * `init/error`, or the runtime died): its errorType, e.g. `Runtime.ExitError` (the Invoke API's
   * `X-Amz-Function-Error: Unhandled`).
   */
  functionError?: string;
  /**
   * With functionError: Lambda's error document `{errorMessage, errorType, stackTrace}`. It is the
   * invocation's output (the record's stdout) unless a streamed response had started.
   */
  errorDocument?: Buffer;
}

/** How a long-lived worker sandbox ended (see Backend.startWorker). */
export interface WorkerExit {
  /** ok: exited 0; failed: non-zero exit; timeout: kill() was called; oom: killed for memory */
  outcome: SandboxOutcome;
  exitCode: number | null;
  signal: string | null;
  /** the sandbox could not be created (runc error): an infrastructure failure, not the function's */
  error?: string;
  /** a message for the current invocation's stderr (e.g. runc's "exec: not found") */
  note?: string;
}

/**
 * A long-running sandbox for warm workers: its stdio plus two extra pipes, fd 3 (requests, written
 * by the platform) and fd 4 (completions, written by the worker). See docs/warm-protocol.md.
 */
export interface WorkerSandbox {
  readonly id: string;
  stdin: import('node:stream').Writable;
  stdout: import('node:stream').Readable;
  /** pauses stdout until `p` settles (a slow consumer); ignored once the sandbox's process exited */
  holdStdout(p: Promise<unknown>): void;
  stderr: import('node:stream').Readable;
  requests: import('node:stream').Writable;
  completions: import('node:stream').Readable;
  /** resolves once the sandbox exited and its output streams are closed; never rejects */
  exited: Promise<WorkerExit>;
  /** SIGKILL to the whole sandbox; resolves when it is gone */
  kill(): Promise<void>;
  /**
   * The processes now in the sandbox, as identities that survive pid reuse (`pid:starttime`).
   * Compared with the list taken at `ready`, it finds what a call left running. Rejects when the
   * backend cannot tell (then the caller must assume the worst).
   */
  processes(): Promise<string[]>;
}

export interface BackendStatus {
  ok: boolean;
  reason?: string;
}

/** What a prepared sandbox needs to go: the per-invocation part of a run. */
export interface PreparedStart {
  /** per-invocation environment (AGNI_INVOCATION_ID, AGNI_DEADLINE_MS), added just before exec */
  env: Record<string, string>;
  stdin: Buffer | Readable;
  io: Omit<SandboxIO, 'stdin'>;
  /** absolute Unix ms: the sandbox is killed then (outcome timeout) */
  deadline: number;
  hooks?: SandboxHooks;
}

/**
 * A sandbox created ahead of demand: its container runs a gate that waits until start() hands it
 * the invocation, then execs the function's command. Used once; cleaned up like a run() sandbox.
 */
export interface PreparedSandbox {
  readonly id: string;
  /** true until it is started, destroyed, or died while waiting */
  readonly waiting: boolean;
  /** `cb` runs once if the sandbox dies before start() (killed from outside, runc failure) */
  onLost(cb: () => void): void;
  /** Same outcomes as Backend.run; the deadline timer starts here. Rejects unless waiting. */
  start(s: PreparedStart): Promise<SandboxResult>;
  /** Kills a waiting sandbox and waits until it exited; no-op once started (the run owns it). */
  destroy(): Promise<void>;
}

export interface Backend {
  readonly name: 'runc' | 'process';
  /** false for the process backend: printed loudly by `agni up` */
  readonly isolated: boolean;
  available(): Promise<BackendStatus>;
  /** Runs one sandbox to completion. Rejects only on infrastructure failure (AgniError sandbox_error). */
  run(spec: SandboxSpec, io: SandboxIO, hooks?: SandboxHooks): Promise<SandboxResult>;
  /** Starts a long-lived worker sandbox with fds 3 and 4 (warm lifecycle); absent: no warm workers. */
  startWorker?(spec: SandboxSpec): Promise<WorkerSandbox>;
  /**
   * Creates a sandbox from `base` (its id must be unique) that waits for start(). Resolves once it
   * is running and waiting. Only backends that can prepare ahead implement it (runc).
   */
  prepare?(base: SandboxSpec): Promise<PreparedSandbox>;
  /** Removes whatever a previous, crashed instance left behind. Returns how many items were cleaned. */
  recover(): Promise<number>;
  /** Kills running sandboxes and waits until everything they used is released. Safe to call twice. */
  shutdown(): Promise<void>;
}
