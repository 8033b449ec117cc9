/**
 * What the async queue takes for a lost node (a redelivery, not an attempt of the function), on
 * the real errors placement and the NATS dispatch make.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from '../core/errors.js';
import { type CandidateNode, rankNodes } from '../core/placement.js';
import { isNodeLost, lostRedeliveryMs } from './async-queue.js';

const node = (name: string, over: Partial<CandidateNode> = {}): CandidateNode => ({
  node: name,
  platforms: ['linux/amd64'],
  backends: ['runc', 'process'],
  slots: 4,
  running: 0,
  queued: 0,
  labels: {},
  warm: [],
  state: 'ready',
  inflight: 0,
  ...over,
});

function placementError(nodes: CandidateNode[]): unknown {
  try {
    rankNodes(nodes, [{ key: 'nap@1', placement: { labels: { pool: 'x86' } } }]);
  } catch (e) {
    return e;
  }
  return assert.fail('placement found a node');
}

test('every fitting node lost just now (NATS restarting) is a lost node: wait for one to come back', () => {
  const e = placementError([
    node('x1', { state: 'lost', labels: { pool: 'x86' } }),
    node('arm', { platforms: ['linux/arm64'] }),
  ]);
  assert.equal((e as AgniError).code, 'no_node');
  assert.equal(isNodeLost(e), true);
});

test('no node that could ever fit, or only drained ones, stays an error of the call', () => {
  assert.equal(isNodeLost(placementError([node('arm', { platforms: ['linux/arm64'] })])), false);
  assert.equal(
    isNodeLost(placementError([node('x1', { state: 'draining', labels: { pool: 'x86' } })])),
    false,
  );
  assert.equal(isNodeLost(new AgniError('function_failed', 'exit 1')), false);
  assert.equal(isNodeLost(new AgniError('node_lost', 'node x1 was lost while nap v1 ran on it')), true);
});

test('redeliveries after a lost node are spaced out, so ten of them outlast the seconds until a dead node is marked lost', () => {
  assert.equal(lostRedeliveryMs(1), 250);
  assert.equal(lostRedeliveryMs(2), 500);
  assert.equal(lostRedeliveryMs(20), 5_000);
  let total = 0;
  for (let d = 1; d < 10; d++) total += lostRedeliveryMs(d);
  assert.ok(total > 3_000 * 5, `${total} ms`);
});
