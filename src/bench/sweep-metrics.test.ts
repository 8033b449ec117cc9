import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetrics } from './sweep-metrics.js';

test('the last JSON object line wins; numbers and booleans are metrics, the rest is not', () => {
  const out = 'loading…\n{"a": 1}\n{"fit_sec": 1.5, "ok": true, "model": "rf", "nested": {"x": 1}}\n';
  assert.deepEqual(parseMetrics(out), { fit_sec: 1.5, ok: 1 });
});

test('the whole stdout as one (pretty-printed) object', () => {
  assert.deepEqual(parseMetrics('{\n  "r_squared": 0.81,\n  "n": 3\n}\n'), { r_squared: 0.81, n: 3 });
});

test('no JSON, arrays, bad names and non-finite values give nothing; sweep columns are renamed', () => {
  assert.deepEqual(parseMetrics('hello\n'), {});
  assert.deepEqual(parseMetrics('[1,2]'), {});
  assert.deepEqual(parseMetrics('{"bad name": 1, "x,y": 2}'), {});
  assert.deepEqual(parseMetrics('{"status": 3, "wall_ms": 4, "phase_queued_ms": 5, "agni_ms": 6}'), {
    metric_status: 3,
    metric_wall_ms: 4,
  });
});
