/**
 * The state store. Embedded mode uses SQLite; cluster mode will use PostgreSQL through the same
 * Kysely query code. Domain code depends only on this interface.
 */
import type { Manifest } from '../core/manifest.js';
import type { PhaseTimes } from '../core/phases.js';

export interface VersionRecord {
  function: string;
  version: number;
  manifest: Manifest;
  /** where this version's files live on the node; immutable once written */
  codeDir: string;
  /** 'host', or the image id (pinned at deploy, so re-importing an image never changes a version) */
  imageId: string;
  /** cluster mode: where every node fetches this version's code (and its image) from */
  code?: VersionCode;
  createdAt: number;
}

/** A version's code as an OCI image pinned by digest in the cluster registry (src/app/code-publisher.ts). */
export interface VersionCode {
  /** `REGISTRY/agni/fn/<name>@sha256:…`: a one-layer image whose layer is the /fn tree */
  ref: string;
  /**
   * `REGISTRY/agni/images@sha256:…`: the version's image (an index when the server had every
   * platform of it, else the one manifest `imageId` names); absent for runtime: host
   */
  image?: string;
}

/** the live version (what a call without a version or alias runs), with counts */
export interface FunctionRecord extends VersionRecord {
  versions: number;
  /** the newest version; higher than `version` after a rollback */
  newest: number;
}

export const INVOCATION_STATUSES = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'timeout',
  'oom',
  'error',
] as const;
export type InvocationStatus = (typeof INVOCATION_STATUSES)[number];

/** which invocations a listing returns, newest first */
export interface InvocationFilter {
  function?: string;
  /** any of these */
  status?: InvocationStatus[];
  /** created at or after (ms since the epoch) */
  since?: number;
  /** created before (ms since the epoch) */
  until?: number;
}

export interface InvocationRecord {
  id: string;
  function: string;
  /** the version that ran (an alias's pick, when the call named an alias) */
  version: number;
  /** the alias the call named; null when it named a version or the live one */
  alias: string | null;
  status: InvocationStatus;
  exitCode: number | null;
  error: string | null;
  backend: string;
  node: string;
  payloadBytes: number;
  stdoutBytes: number;
  stderrBytes: number;
  stdoutTail: string;
  stderrTail: string;
  phases: PhaseTimes;
  createdAt: number;
  /** the timeout that applied (ms): a per-call one (Agni-Timeout) or the function's limits.timeout */
  timeoutMs: number | null;
  /** the absolute deadline (ms since the epoch) the sandbox was to be killed at, once it was placed */
  deadline: number | null;
}

export type InvocationPatch = Partial<
  Omit<InvocationRecord, 'id' | 'function' | 'version' | 'alias' | 'createdAt'>
>;

/**
 * How a write of an invocation row commits. `lazy`: the database may acknowledge it before its log
 * reaches the disk (PostgreSQL's synchronous_commit = off; SQLite commits the lazy writes of one
 * event-loop turn together, sqlite-group-commit.ts). A crash of the
 * database (not a restart, not a crash of Agni) may lose the last fraction of a second of such
 * writes, never corrupt anything. For a sync call's record, whose outcome already went to its
 * caller; never for accepted work (async invocations, jobs), whose rows stay durable.
 */
export interface WriteOptions {
  lazy?: boolean;
}

export interface ImageRecord {
  id: string;
  name: string;
  rootfs: string;
  sizeBytes: number;
  files: number;
  source: string;
  createdAt: number;
}

export interface FailUnfinishedOptions {
  /**
   * `own` (default): this instance's rows (left by its previous life) and rows written before
   * owners; `gone`: rows of other servers that have not beaten for `leaseMs`
   */
  scope?: 'own' | 'gone';
  /** how long a silent server keeps its rows (default 30 s) */
  leaseMs?: number;
  now?: number;
}

export interface Store {
  /** allocates the next version number of `manifest.name` atomically */
  addVersion(v: Omit<VersionRecord, 'version' | 'createdAt'>): Promise<VersionRecord>;
  getFunction(name: string): Promise<FunctionRecord | undefined>;
  /** the live version alone, in one query: what every invocation needs */
  getLatestVersion(name: string): Promise<VersionRecord | undefined>;
  /** makes an existing version live (`agni rollback`); undefined when the function or version is missing */
  setLiveVersion(name: string, version: number): Promise<VersionRecord | undefined>;
  getVersion(name: string, version: number): Promise<VersionRecord | undefined>;
  listFunctions(): Promise<FunctionRecord[]>;
  listVersions(name: string): Promise<VersionRecord[]>;
  /** removes the function, all its versions and its aliases; returns the versions so their files can be deleted */
  removeFunction(name: string): Promise<VersionRecord[]>;
  /**
   * removes one version that is neither live, nor named by an alias, nor pinned by an unfinished
   * job; returns it, or what stands in the way: the live version, the aliases, or the jobs
   */
  removeVersion(
    name: string,
    version: number,
  ): Promise<
    { removed: VersionRecord } | { live: true } | { aliases: string[] } | { jobs: string[] } | undefined
  >;

  createInvocation(rec: InvocationRecord, o?: WriteOptions): Promise<void>;
  updateInvocation(id: string, patch: InvocationPatch, o?: WriteOptions): Promise<void>;
  getInvocation(id: string): Promise<InvocationRecord | undefined>;
  listInvocations(q: InvocationFilter & { limit: number }): Promise<InvocationRecord[]>;
  /** this server instance is alive: recovery elsewhere leaves its unfinished sync invocations alone */
  beat(now: number): Promise<void>;
  /**
   * sync invocations left queued/running by a server that is gone, marked as errors: at start
   * this instance's own (its previous life) and rows written before invocations had owners; in
   * the periodic sweep (`scope: 'gone'`) those of servers that have not beaten for `leaseMs`
   */
  failUnfinished(reason: string, o?: FailUnfinishedOptions): Promise<number>;

  putImage(img: ImageRecord): Promise<ImageRecord | undefined>;
  getImage(name: string): Promise<ImageRecord | undefined>;
  getImageById(id: string): Promise<ImageRecord | undefined>;
  listImages(): Promise<ImageRecord[]>;
  removeImage(name: string): Promise<void>;
  /** image ids still pinned by some function version */
  imageIdsInUse(): Promise<Set<string>>;

  /** safe to call twice */
  close(): Promise<void>;
}
