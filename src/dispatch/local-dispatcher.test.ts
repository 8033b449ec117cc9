/** Groups in the in-process dispatcher, over a real agent and the process backend. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { Agent } from '../agent/agent.js';
import { AgniError, isAgniError } from '../core/errors.js';
import { parseManifest } from '../core/manifest.js';
import { nodePlatforms } from '../image/oci/node-platforms.js';
import { ProcessBackend } from '../sandbox/process-backend.js';
import type { VersionRecord } from '../store/store.js';
import { type DispatchJob, dispatchRequest } from './dispatch-request.js';
import { LocalDispatcher } from './local-dispatcher.js';

const backend = new ProcessBackend();
const codeDir = tempDir('agni-dispatch-');
after(() => backend.shutdown());

const version = (name: string, command: string): VersionRecord => ({
  function: name,
  version: 1,
  manifest: parseManifest(`name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\n`),
  codeDir,
  imageId: 'host',
  createdAt: Date.now(),
});

/** a real in-process agent over the process backend, with `slots` slots */
const agent = (slots: number) =>
  new Agent(backend, async () => undefined, { node: 'test', platforms: nodePlatforms(), slots });

let seq = 0;
function job(v: VersionRecord, placed: string[], signal?: AbortSignal): DispatchJob {
  const id = `job-${seq++}`;
  const payload = Buffer.alloc(0);
  return {
    request: dispatchRequest({ invocationId: id, version: v, payload }),
    channel: {
      payload,
      io: { onStdout: () => {}, onStderr: () => {}, signal },
      hooks: { onPlaced: () => placed.push(v.function) },
    },
  };
}

test('a group starts whole, and holds back single jobs queued after it', async () => {
  const d = new LocalDispatcher(agent(2));
  const placed: string[] = [];
  const nap = version('nap', 'sleep 0.3');
  const running = d.dispatch(job(nap, placed));
  const group = d.dispatchGroup([job(version('g1', 'true'), placed), job(version('g2', 'true'), placed)]);
  // One slot is free, but the group needs two: the single job behind it must not take that slot.
  const late = d.dispatch(job(version('late', 'true'), placed));
  assert.deepEqual(placed, ['nap']);
  assert.deepEqual(d.stats(), { queued: 3, running: 1, slots: 2, maxQueue: 256 });
  const results = await Promise.all([running, ...group, late]);
  assert.ok(results.every((r) => r.outcome === 'ok'));
  assert.deepEqual(placed, ['nap', 'g1', 'g2', 'late']);
  await d.close();
});

test('a group that can never fit is refused at once', async () => {
  const d = new LocalDispatcher(agent(1));
  const v = version('g', 'true');
  const errs = await Promise.all(
    d.dispatchGroup([job(v, []), job(v, [])]).map((p) => p.catch((e: unknown) => e)),
  );
  for (const e of errs)
    assert.ok(isAgniError(e) && /needs 2 slots at once, and this node has 1/.test(e.message));
  assert.equal(d.stats().queued, 0);
  await d.close();
});

test('aborting one job of a waiting group drops the whole group with the reason', async () => {
  const d = new LocalDispatcher(agent(2));
  const placed: string[] = [];
  const blocker = d.dispatchGroup([
    job(version('nap', 'sleep 0.3'), placed),
    job(version('nap2', 'sleep 0.3'), placed),
  ]);
  const stop = new AbortController();
  const v = version('g', 'true');
  const waiting = d
    .dispatchGroup([job(v, placed), job(v, placed, stop.signal)])
    .map((p) => p.catch((e: unknown) => e));
  assert.equal(d.stats().queued, 2);
  stop.abort(new AgniError('sandbox_error', 'the caller went away'));
  for (const e of await Promise.all(waiting))
    assert.ok(isAgniError(e) && e.message === 'the caller went away');
  assert.equal(d.stats().queued, 0);
  await Promise.all(blocker);
  assert.deepEqual(placed, ['nap', 'nap2'], 'the aborted group never ran');
  await d.close();
});
