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

export interface FunctionRecord extends VersionRecord {
  versions: number;
}

export type InvocationStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'timeout' | 'oom' | 'error';

export interface InvocationRecord {
  id: string;
  function: string;
  version: number;
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

export type InvocationPatch = Partial<Omit<InvocationRecord, 'id' | 'function' | 'version' | 'createdAt'>>;

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
  getVersion(name: string, version: number): Promise<VersionRecord | undefined>;
  listFunctions(): Promise<FunctionRecord[]>;
  listVersions(name: string): Promise<VersionRecord[]>;
  /** removes the function and all its versions; returns them so their files can be deleted */
  removeFunction(name: string): Promise<VersionRecord[]>;

  createInvocation(rec: InvocationRecord): Promise<void>;
  updateInvocation(id: string, patch: InvocationPatch): Promise<void>;
  getInvocation(id: string): Promise<InvocationRecord | undefined>;
  listInvocations(q: { function?: string; limit: number }): Promise<InvocationRecord[]>;
  /** invocations left queued/running by a process that died: marked as errors at start-up */
  failUnfinished(reason: string): Promise<number>;

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
