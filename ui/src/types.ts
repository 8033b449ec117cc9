/** The shapes the dashboard reads from the API (the server's own types live in src/; these are what crosses the wire). */
export interface Version {
  function: string;
  version: number;
  manifest: Record<string, unknown> & { runtime?: string; command?: string | string[] };
  imageId: string;
  createdAt: number;
}

export interface FunctionRow extends Version {
  versions: number;
  newest: number;
}

export type Phases = Partial<Record<string, number>>;

export interface Invocation {
  id: string;
  function: string;
  version: number;
  alias: string | null;
  status: string;
  exitCode: number | null;
  error: string | null;
  backend: string;
  node: string;
  payloadBytes: number;
  stdoutBytes: number;
  stderrBytes: number;
  stdoutTail: string;
  stderrTail: string;
  phases: Phases;
  createdAt: number;
  timeoutMs: number | null;
}

export interface Job {
  id: string;
  function: string;
  reduce: string | null;
  version: number | null;
  concurrency: number;
  status: string;
  run: number;
  counts: { total: number; pending: number; running: number; succeeded: number; failed: number };
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  rate: number | null;
  etaMs: number | null;
  reduceStatus: string | null;
  error: string | null;
}

export interface JobItem {
  index: number;
  name: string;
  status: string;
  invocationId: string | null;
  outcome: string | null;
  exitCode: number | null;
  error: string | null;
  attempts: number;
}

export interface Trigger {
  function: string;
  version: number;
  index: number;
  kind: string;
  spec: string;
  state: string;
  nextFireAt: string | null;
  nextFireLocal: string | null;
  fires: number;
  lastFiredAt: string | null;
  lastInvocationId: string | null;
  lastStatus: string | null;
  lastError: string | null;
}

export interface ImageEntry {
  kind: 'rootfs' | 'oci';
  name: string;
  architectures: string[];
  sizeBytes: number;
  uniqueBytes: number;
  sharedBytes: number;
  layerCount: number;
  createdAt: number;
  usedBy: string[];
  platform?: string;
}

export interface Similarity {
  names: string[];
  values: number[][];
  shared: number[][];
}
