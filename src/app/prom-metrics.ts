/**
 * Metrics in the Prometheus text format (prom-client), on a registry of this instance's own so
 * two servers in one process (tests) never share series. Names and labels are listed in
 * docs/observability.md; docs/grafana-dashboard.json uses them (a test holds it to a scrape).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { InvocationEnded, MetricSources, Metrics, SandboxKind } from '../core/metrics.js';
import { phaseDurations, totalMs } from '../core/phases.js';

/** seconds, from a warm call (~1 ms) to a long batch function (5 min) */
const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface MetricsText {
  contentType: string;
  body: string;
}

export class PromMetrics implements Metrics {
  readonly registry = new Registry();
  private sources: MetricSources = { nodes: [] };

  private readonly invocations: Counter<'function' | 'status' | 'mode' | 'node'>;
  private readonly duration: Histogram<'function' | 'status' | 'mode' | 'node'>;
  private readonly phase: Histogram<'phase' | 'function' | 'node'>;
  private readonly created: Counter<'node' | 'kind'>;
  private readonly failed: Counter<'node' | 'kind'>;
  private readonly retries: Counter<'function'>;
  private readonly deadLetters: Counter<'function'>;
  private readonly jobItems: Counter<'function' | 'status'>;
  private readonly pulls: Counter<'result'>;
  private readonly pullBytes: Counter;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.invocations = new Counter({
      name: 'agni_invocations_total',
      help: 'Invocations that ended, by function, final status, how the sandbox was had (mode) and node',
      labelNames: ['function', 'status', 'mode', 'node'],
      registers,
    });
    this.duration = new Histogram({
      name: 'agni_invocation_duration_seconds',
      help: 'Invocation time from received to finished',
      labelNames: ['function', 'status', 'mode', 'node'],
      buckets: SECONDS,
      registers,
    });
    this.phase = new Histogram({
      name: 'agni_invocation_phase_seconds',
      help: 'Time from the start of a phase to the next phase reached (phase=queued: waiting for a slot)',
      labelNames: ['phase', 'function', 'node'],
      buckets: SECONDS,
      registers,
    });
    this.created = new Counter({
      name: 'agni_sandbox_creations_total',
      help: 'Sandboxes a backend made (kind: run, prepared for a pool, warm worker)',
      labelNames: ['node', 'kind'],
      registers,
    });
    this.failed = new Counter({
      name: 'agni_sandbox_failures_total',
      help: 'Sandboxes a backend failed to make (infrastructure failures, not function errors)',
      labelNames: ['node', 'kind'],
      registers,
    });
    this.retries = new Counter({
      name: 'agni_async_retries_total',
      help: 'Async attempts that failed and were scheduled again',
      labelNames: ['function'],
      registers,
    });
    this.deadLetters = new Counter({
      name: 'agni_async_dead_letters_total',
      help: 'Async invocations that failed every attempt',
      labelNames: ['function'],
      registers,
    });
    this.jobItems = new Counter({
      name: 'agni_job_items_total',
      help: 'Fan-out job items settled, by status',
      labelNames: ['function', 'status'],
      registers,
    });
    this.pulls = new Counter({
      name: 'agni_image_pulls_total',
      help: 'Image pulls from registries, by result',
      labelNames: ['result'],
      registers,
    });
    this.pullBytes = new Counter({
      name: 'agni_image_pull_bytes_total',
      help: 'Bytes image pulls fetched from registries',
      registers,
    });
    this.stateMetrics(registers);
  }

  /** Gauges and counters that are state elsewhere, read when Prometheus scrapes. */
  private stateMetrics(registers: Registry[]): void {
    const self = this;
    const perNode = (
      name: string,
      help: string,
      read: (n: MetricSources['nodes'][number]) => number | undefined,
      kind: 'gauge' | 'counter',
    ) => {
      const Make = kind === 'gauge' ? Gauge : Counter;
      new Make({
        name,
        help,
        labelNames: ['node'],
        registers,
        collect(this: Gauge<'node'> | Counter<'node'>) {
          this.reset();
          for (const n of self.sources.nodes) {
            const v = read(n);
            if (v === undefined) continue;
            if (this instanceof Gauge) this.set({ node: n.node }, v);
            else this.inc({ node: n.node }, v);
          }
        },
      });
    };
    perNode('agni_queue_depth', 'Invocations waiting for a slot', (n) => n.dispatcher?.().queued, 'gauge');
    perNode(
      'agni_slots',
      'Slots (concurrent invocations) of the node',
      (n) => n.dispatcher?.().slots,
      'gauge',
    );
    perNode('agni_slots_in_use', 'Slots running an invocation now', (n) => n.dispatcher?.().running, 'gauge');
    perNode(
      'agni_prewarm_sandboxes',
      'Prepared sandboxes on the node (waiting or being prepared)',
      (n) => n.prewarm?.().current,
      'gauge',
    );
    perNode(
      'agni_prewarm_hits_total',
      'Invocations that took a prepared sandbox',
      (n) => n.prewarm?.().hits,
      'counter',
    );
    perNode(
      'agni_prewarm_misses_total',
      'Invocations of a pooled function that found none waiting and ran in a fresh sandbox',
      (n) => n.prewarm?.().misses,
      'counter',
    );
    perNode(
      'agni_prewarm_lost_total',
      'Prepared sandboxes that died while waiting',
      (n) => n.prewarm?.().lost,
      'counter',
    );
    perNode('agni_warm_workers', 'Warm workers running (busy or idle)', (n) => n.warm?.().workers, 'gauge');
    perNode('agni_warm_workers_idle', 'Warm workers waiting for a call', (n) => n.warm?.().idle, 'gauge');
    perNode(
      'agni_warm_hits_total',
      'Warm calls served by a worker already running',
      (n) => n.warm?.().hits,
      'counter',
    );
    perNode('agni_warm_starts_total', 'Warm workers started for a call', (n) => n.warm?.().starts, 'counter');
    new Gauge({
      name: 'agni_async_backlog',
      help: 'Async invocations accepted and not yet settled',
      registers,
      collect(this: Gauge) {
        const v = self.sources.asyncBacklog?.();
        if (v !== undefined) this.set(v);
      },
    });
  }

  watch(sources: MetricSources): void {
    this.sources = sources;
  }

  invocationEnded(e: InvocationEnded): void {
    const labels = { function: e.function, status: e.status, mode: e.mode, node: e.node || 'none' };
    this.invocations.inc(labels);
    const total = totalMs(e.phases);
    if (total !== undefined) this.duration.observe(labels, total / 1000);
    for (const p of phaseDurations(e.phases)) {
      if (p.phase === 'finished') continue;
      this.phase.observe({ phase: p.phase, function: e.function, node: labels.node }, p.durationMs / 1000);
    }
  }

  sandboxCreated(node: string, kind: SandboxKind): void {
    this.created.inc({ node, kind });
  }

  sandboxFailed(node: string, kind: SandboxKind): void {
    this.failed.inc({ node, kind });
  }

  asyncRetried(fn: string): void {
    this.retries.inc({ function: fn });
  }

  asyncDeadLettered(fn: string): void {
    this.deadLetters.inc({ function: fn });
  }

  jobItemSettled(fn: string, status: 'succeeded' | 'failed'): void {
    this.jobItems.inc({ function: fn, status });
  }

  imagePulled(result: 'ok' | 'failed', bytes: number): void {
    this.pulls.inc({ result });
    if (bytes > 0) this.pullBytes.inc(bytes);
  }

  async render(): Promise<MetricsText> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
