import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PromMetrics } from './prom-metrics.js';

test('an ended invocation counts by function, status, mode and node, with its duration and phases', async () => {
  const m = new PromMetrics();
  m.invocationEnded({
    function: 'f',
    status: 'succeeded',
    mode: 'prewarmed',
    node: 'n1',
    phases: {
      received: 1000,
      queued: 1001,
      placed: 1003,
      sandbox_ready: 1004,
      started: 1010,
      finished: 1100,
    },
  });
  const { body, contentType } = await m.render();
  assert.match(contentType, /^text\/plain/);
  assert.match(
    body,
    /^agni_invocations_total\{function="f",status="succeeded",mode="prewarmed",node="n1"\} 1$/m,
  );
  assert.match(body, /^agni_invocation_duration_seconds_sum\{[^}]*function="f"[^}]*\} 0\.1$/m);
  // queued → placed took 2 ms; the finished phase has no duration of its own
  assert.match(body, /^agni_invocation_phase_seconds_sum\{phase="queued",function="f",node="n1"\} 0\.002$/m);
  assert.doesNotMatch(body, /phase="finished"/);
});

test('state metrics are read from the watched sources at every scrape, per node', async () => {
  const m = new PromMetrics();
  let queued = 3;
  m.watch({
    nodes: [
      { node: 'a', dispatcher: () => ({ queued, running: 1, slots: 4 }) },
      { node: 'b', warm: () => ({ workers: 2, idle: 1, hits: 7, starts: 2 }) },
    ],
    asyncBacklog: () => 5,
  });
  let body = (await m.render()).body;
  assert.match(body, /^agni_queue_depth\{node="a"\} 3$/m);
  assert.match(body, /^agni_slots_in_use\{node="a"\} 1$/m);
  assert.match(body, /^agni_warm_hits_total\{node="b"\} 7$/m);
  assert.match(body, /^agni_async_backlog 5$/m);
  assert.doesNotMatch(body, /agni_queue_depth\{node="b"\}/);
  queued = 0;
  body = (await m.render()).body;
  assert.match(body, /^agni_queue_depth\{node="a"\} 0$/m);
});
