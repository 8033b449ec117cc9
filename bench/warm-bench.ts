/**
 * Warm-worker overhead: N calls to a warm no-op through WarmWorkers directly (no HTTP, no store),
 * minus the handler's own time as it measures it; then the same no-op end to end over HTTP.
 * `node dist/bench/warm-bench.js [runc|process]`, N from BENCH_N (default 500).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { WarmWorkers } from '../src/agent/warm-workers.js';
import { summarize } from '../src/bench/stats.js';
import { validateManifest } from '../src/core/manifest.js';
import { stamp } from '../src/core/phases.js';
import { startEmbedded } from '../src/main/embedded.js';
import type { Backend, SandboxSpec } from '../src/sandbox/backend.js';
import { ProcessBackend } from '../src/sandbox/process-backend.js';
import { RuncBackend } from '../src/sandbox/runc-backend.js';
import type { VersionRecord } from '../src/store/store.js';
import { fnDir, tarOf } from '../test/helpers/tarball.js';

const N = Number(process.env.BENCH_N ?? 500);
const WARMUP = 20;
const kind = process.argv[2] === 'process' ? 'process' : 'runc';

// The handler reports its own time (ns) on stdout; the platform's overhead is the rest.
const MAIN_PY = `import os, sys, time
sys.path.insert(0, os.path.join(os.environ.get("AGNI_RUNTIMES", "/agni/runtimes"), "python"))
import agni_warm
def handle(payload):
    t0 = time.perf_counter_ns()
    return str(time.perf_counter_ns() - t0)
agni_warm.serve(handle)
`;
const YAML =
  'name: warm-noop\nruntime: host\ncommand: ["python3", "/fn/main.py"]\nlifecycle: warm\npool:\n  max: 1\n';

const fmt = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

async function direct(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'agni-warm-bench-'));
  const backend: Backend = kind === 'runc' ? new RuncBackend({ home }) : new ProcessBackend();
  const runner = new WarmWorkers({ startWorker: (s) => backend.startWorker!(s) });
  const codeDir = fnDir({ 'agni.yaml': YAML, 'main.py': MAIN_PY });
  chmodSync(codeDir, 0o755); // the sandbox runs as nobody
  const manifest = validateManifest({
    name: 'warm-noop',
    runtime: 'host',
    command: ['python3', '/fn/main.py'],
    lifecycle: 'warm',
    pool: { max: 1 },
  });
  const version: VersionRecord = {
    function: 'warm-noop',
    version: 1,
    manifest,
    codeDir,
    imageId: 'host',
    createdAt: 0,
  };
  const base: SandboxSpec = {
    id: 'warm-noop-v1',
    rootfs: '',
    hostRuntime: true,
    codeDir,
    args: manifest.command,
    env: {},
    cwd: '/fn',
    limits: manifest.limits,
    network: 'none',
  };
  const overhead: number[] = [];
  const wall: number[] = [];
  try {
    for (let i = 0; i < N + WARMUP; i++) {
      let out = '';
      let err = '';
      const t0 = stamp();
      const r = await runner.run(version, async () => base, {
        id: `b${i}`,
        deadline: Date.now() + 10_000,
        payload: Buffer.alloc(0),
        io: { onStdout: (c) => (out += c), onStderr: (c) => (err += c) },
        hooks: {},
      });
      const ms = stamp() - t0;
      if (r.outcome !== 'ok') throw new Error(`call ${i}: ${JSON.stringify(r)} ${err}`);
      if (i < WARMUP) continue;
      wall.push(ms);
      overhead.push(ms - Number(out) / 1e6);
    }
  } finally {
    await runner.shutdown();
    await backend.shutdown();
    rmSync(home, { recursive: true, force: true });
    rmSync(codeDir, { recursive: true, force: true });
  }
  const o = summarize(overhead);
  const w = summarize(wall);
  console.log(`warm no-op via WarmWorkers (${kind}), N=${N}`);
  console.log(`  overhead (call − handler's own time): median ${fmt(o.median)}  p90 ${fmt(o.p90)}`);
  console.log(`  call wall time:                        median ${fmt(w.median)}  p90 ${fmt(w.p90)}`);
}

async function http(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'agni-warm-bench-'));
  const s = await startEmbedded({
    home,
    host: '127.0.0.1',
    port: 0,
    backend: kind,
    slots: 2,
    maxPayloadBytes: 1024 * 1024,
    logger: pino({ level: 'silent' }),
  });
  const samples: number[] = [];
  try {
    const dir = fnDir({ 'agni.yaml': YAML, 'main.py': MAIN_PY });
    const d = await fetch(`${s.url}/v1/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(await tarOf(dir)),
    });
    if (d.status !== 201) throw new Error(`deploy: ${d.status} ${await d.text()}`);
    const n = Math.min(N, 200);
    for (let i = 0; i < n + WARMUP; i++) {
      const t0 = stamp();
      const r = await fetch(`${s.url}/v1/functions/warm-noop/invoke`, { method: 'POST', body: '' });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`invoke: ${r.status}`);
      if (i >= WARMUP) samples.push(stamp() - t0);
    }
    const h = summarize(samples);
    console.log(`warm no-op over HTTP (${kind}), N=${n}: median ${fmt(h.median)}  p90 ${fmt(h.p90)}`);
  } finally {
    await s.close();
    rmSync(home, { recursive: true, force: true });
  }
}

await direct();
await http();
