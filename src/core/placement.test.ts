import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAgniError } from './errors.js';
import { type CandidateNode, chooseNode, freeSlots, type PlacementNeed, rankNodes } from './placement.js';

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

const need = (over: Partial<PlacementNeed> = {}): PlacementNeed => ({ key: 'fn@1', ...over });
const names = (cs: CandidateNode[]) => cs.map((c) => c.node);

test('an arm64-only image goes only to a node that runs linux/arm64', () => {
  const nodes = [node('x86'), node('arm', { platforms: ['linux/arm64/v8'], running: 3 })];
  assert.deepEqual(names(rankNodes(nodes, [need({ imagePlatforms: ['linux/arm64'] })])), ['arm']);
});

test('a multi-platform index fits both; native beats emulated', () => {
  const nodes = [
    node('x86-emulating-arm', { platforms: ['linux/amd64', 'linux/arm64'] }),
    node('arm', { platforms: ['linux/arm64'], running: 2 }),
  ];
  // arm64-only: the native arm node wins although it is busier
  assert.deepEqual(names(rankNodes(nodes, [need({ imagePlatforms: ['linux/arm64'] })])), [
    'arm',
    'x86-emulating-arm',
  ]);
  // both platforms: both native, the idle one first
  assert.deepEqual(names(rankNodes(nodes, [need({ imagePlatforms: ['linux/amd64', 'linux/arm64'] })])), [
    'x86-emulating-arm',
    'arm',
  ]);
});

test('the host runtime runs on any platform, as the node itself; placement.platforms narrows it', () => {
  const nodes = [
    node('x86'),
    node('arm', { platforms: ['linux/arm64'] }),
    node('emu', { platforms: ['linux/amd64', 'linux/arm64'] }),
  ];
  assert.deepEqual(names(rankNodes(nodes, [need()])).sort(), ['arm', 'emu', 'x86']);
  assert.deepEqual(names(rankNodes(nodes, [need({ placement: { platforms: ['linux/arm64'] } })])), ['arm']);
});

test('a warm node wins over a less loaded one; then the least loaded', () => {
  const nodes = [
    node('idle'),
    node('busy-warm', { running: 3, warm: ['fn@1'] }),
    node('half', { running: 1, inflight: 1 }),
    node('warm-other-version', { running: 2, warm: ['fn@2'] }),
  ];
  assert.deepEqual(names(rankNodes(nodes, [need()])), ['busy-warm', 'idle', 'half', 'warm-other-version']);
});

test('load counts queued and in-flight calls, relative to slots', () => {
  const nodes = [
    node('small', { slots: 2, running: 1 }),
    node('big', { slots: 16, running: 4, queued: 2, inflight: 1 }),
  ];
  assert.deepEqual(names(rankNodes(nodes, [need()])), ['big', 'small']);
});

test('in-flight calls the heartbeat already shows are not counted twice', () => {
  const c = node('a', { running: 3, inflight: 3, inflightAtHeartbeat: 3 });
  assert.equal(freeSlots(c), 1);
  assert.equal(freeSlots({ ...c, inflight: 4 }), 0);
});

test('labels must all match', () => {
  const nodes = [node('a', { labels: { zone: 'a', gpu: 'yes' } }), node('b', { labels: { zone: 'b' } })];
  assert.deepEqual(names(rankNodes(nodes, [need({ placement: { labels: { zone: 'b' } } })])), ['b']);
  assert.deepEqual(names(rankNodes(nodes, [need({ placement: { labels: { zone: 'a', gpu: 'yes' } } })])), [
    'a',
  ]);
});

test('draining and lost nodes get nothing; backends must fit', () => {
  const nodes = [
    node('d', { state: 'draining' }),
    node('l', { state: 'lost' }),
    node('p', { backends: ['process'] }),
    node('r', { backends: ['runc'], running: 3 }),
  ];
  assert.deepEqual(names(rankNodes(nodes, [need({ backends: ['runc'] })])), ['r']);
});

test('no node fits: the error names the platforms and labels that are available', () => {
  const nodes = [
    node('a', { labels: { zone: 'a' } }),
    node('b', { platforms: ['linux/amd64', 'linux/riscv64'], labels: { zone: 'b' } }),
    node('arm', { platforms: ['linux/arm64'], labels: { zone: 'c' }, state: 'draining' }),
  ];
  assert.throws(
    () =>
      rankNodes(nodes, [need({ imagePlatforms: ['linux/arm64'], placement: { labels: { gpu: 'yes' } } })]),
    (e: unknown) => {
      assert.ok(isAgniError(e) && e.code === 'no_node' && e.status === 503);
      assert.match(e.message, /no node can run fn@1/);
      assert.match(e.message, /an image for linux\/arm64; labels gpu=yes/);
      assert.match(e.message, /platforms linux\/amd64, linux\/riscv64; labels zone=a, zone=b/);
      assert.deepEqual(e.details?.available, {
        platforms: ['linux/amd64', 'linux/riscv64'],
        labels: ['zone=a', 'zone=b'],
        backends: ['process', 'runc'],
      });
      return true;
    },
  );
  // The arm node would fit the platform: drained, it is named as out of service.
  assert.throws(
    () => rankNodes(nodes, [need({ imagePlatforms: ['linux/arm64'] })]),
    (e: unknown) =>
      isAgniError(e) &&
      /would fit but out of service: arm \(draining\)/.test(e.message) &&
      /agni node resume/.test(e.hint ?? ''),
  );
  assert.throws(
    () => rankNodes([], [need()]),
    (e: unknown) => isAgniError(e) && /no node is ready/.test(e.message),
  );
});

test('a group needs one node that fits every stage and has a slot for each', () => {
  const nodes = [
    node('arm', { platforms: ['linux/arm64'], slots: 8 }),
    node('x86-small', { slots: 2 }),
    node('x86-big', { slots: 4, running: 1 }),
  ];
  const stages = [
    need({ key: 'a@1' }),
    need({ key: 'b@1', imagePlatforms: ['linux/amd64'] }),
    need({ key: 'c@1' }),
  ];
  const chosen = chooseNode(nodes, stages);
  assert.ok(chosen !== 'wait' && chosen.node === 'x86-big');
  assert.equal(chooseNode([node('x86-big', { slots: 4, running: 2 })], stages), 'wait');
});

test('chooseNode waits when every eligible node is full, and skips full ones', () => {
  const nodes = [node('warm-full', { warm: ['fn@1'], running: 4 }), node('free', { running: 3 })];
  const c = chooseNode(nodes, [need()]);
  assert.ok(c !== 'wait' && c.node === 'free');
  assert.equal(chooseNode([nodes[0]!], [need()]), 'wait');
});

test('a version that mounts volumes goes only to nodes that declared every one of them', () => {
  const nodes = [
    node('bare'),
    node('data-only', { volumes: ['data'] }),
    node('both', { volumes: ['data', 'scratch'], running: 3 }),
  ];
  assert.deepEqual(names(rankNodes(nodes, [need({ volumes: ['data'] })])), ['data-only', 'both']);
  assert.deepEqual(names(rankNodes(nodes, [need({ volumes: ['data', 'scratch'] })])), ['both']);
  // no volumes needed: every node, the least loaded first
  assert.deepEqual(names(rankNodes(nodes, [need()])), ['bare', 'data-only', 'both']);
});

test('no node with the volume: no_node names the missing volume and what nodes have', () => {
  const nodes = [node('a', { volumes: ['data'] }), node('b')];
  assert.throws(
    () => rankNodes(nodes, [need({ volumes: ['data', 'refs'] })]),
    (e: unknown) => {
      assert.ok(isAgniError(e));
      assert.equal(e.code, 'no_node');
      assert.match(e.message, /no ready node has volume refs/);
      assert.match(e.message, /volumes data\b/);
      assert.match(e.hint ?? '', /--volume refs=/);
      assert.deepEqual((e.details as { missing_volumes: string[] }).missing_volumes, ['refs']);
      return true;
    },
  );
});

test('a volume only a drained node has: placement waits on no ready node', () => {
  const nodes = [node('a', { volumes: ['data'], state: 'draining' }), node('b')];
  assert.throws(
    () => rankNodes(nodes, [need({ volumes: ['data'] })]),
    (e: unknown) => isAgniError(e) && /a \(draining\)/.test(e.message),
  );
});
