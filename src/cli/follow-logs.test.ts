import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventLine, SseParser } from './follow-logs.js';

test('SseParser joins frames split across chunks and skips comments', () => {
  const p = new SseParser();
  assert.deepEqual(p.push(': hello\n\nevent: received\nda'), []);
  assert.deepEqual(p.push('ta: {"a":1}\n\nevent: placed\r\ndata: {"b":2}\r\n\r\n'), ['{"a":1}', '{"b":2}']);
  assert.deepEqual(p.push('data: x\ndata: y\n\n'), ['x\ny']);
});

test('eventLine names the event, id, target, node, status and, when finished, mode and duration', () => {
  const line = eventLine({
    type: 'finished',
    id: 'inv_1',
    function: 'f',
    version: 2,
    alias: 'prod',
    node: 'n1',
    at: Date.UTC(2026, 0, 1, 12, 0, 0, 5),
    status: 'failed',
    mode: 'warm',
    exitCode: 3,
    durationMs: 12.5,
  });
  assert.match(
    line,
    /^12:00:00\.005 {2}finished {2}inv_1 {2}f@2 \(prod\) {2}n1 {2}failed {2}warm {2}\S+ {2}exit 3$/,
  );
});
