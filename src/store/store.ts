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
  createdAt: number;
}

/** the live version (what a call without a version or alias runs), with counts */
export interface FunctionRecord extends VersionRecord {
  versions: number;
  /** the newest version; higher than `version` after a rollback */
  newest: number;
}

export type InvocationStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'timeout' | 'oom' | 'error';

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

export interface ImageRecord {
  id: string;
  name: string;
  rootfs: string;
  sizeBytes: number;
  files: number;
  source: string;
  createdAt: number;
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

  createInvocation(rec: InvocationRecord): Promise<void>;
  updateInvocation(id: string, patch: InvocationPatch): Promise<void>;
  getInvocation(id: string): Promise<InvocationRecord | undefined>;
  listInvocations(q: { function?: string; limit: number }): Promise<InvocationRecord[]>;
  /**
   * invocations left queued/running by a process that died: marked as errors at start-up. Alone
   * (`agni up`) every unfinished sync invocation is its own; among several servers on one store,
   * `before` takes only those that cannot still run anywhere: whose deadline passed before it, or
   * that never got one (still queued) and were created before it. Async ones are never touched.
   */
  failUnfinished(reason: string, opts?: { before?: number }): Promise<number>;

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
