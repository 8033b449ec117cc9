/**
 * The WorkQueue contract, run against every implementation (in-process, JetStream on real NATS):
 * `workQueueContract(name, factory)` from each one's test file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Delivery, WorkConsumer, WorkItem, WorkQueue } from './work-queue.js';

export interface WorkQueueFixture {
  queue: WorkQueue;
  /** the same queue as another server sees it (the same instance in-process) */
  another(): Promise<WorkQueue>;
  close(): Promise<void>;
}

export type WorkQueueFactory = (o: { ackWaitMs: number; maxDeliveries: number }) => Promise<WorkQueueFixture>;

/**
 * ends a delivery from a handler, which cannot await: an ack still in flight when a test's stream
 * is removed fails, and that is no failure of the test that follows
 */
function settle(p: Promise<void>): void {
  p.catch(() => {});
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** a consumer that records every delivery and lets the test decide what to do with it */
function collect(q: WorkQueue, room = 10, onDelivery?: (d: Delivery) => void) {
  const got: Delivery[] = [];
  const c: WorkConsumer = q.consume(
    (d) => {
      got.push(d);
      onDelivery?.(d);
    },
    { room: () => room },
  );
  return { got, c };
}

export function workQueueContract(name: string, factory: WorkQueueFactory): void {
  const t = (
    what: string,
    o: { ackWaitMs?: number; maxDeliveries?: number },
    fn: (f: WorkQueueFixture) => Promise<void>,
  ) =>
    test(`${name}: ${what}`, { timeout: 120_000 }, async () => {
      const f = await factory({ ackWaitMs: o.ackWaitMs ?? 30_000, maxDeliveries: o.maxDeliveries ?? 10 });
      try {
        await fn(f);
      } finally {
        await f.close();
      }
    });

  t('an enqueued item is delivered once, and not again once acked', {}, async (f) => {
    await f.queue.enqueue({ invocationId: 'inv-a' });
    await f.queue.enqueue({ invocationId: 'inv-b', notBefore: 5 });
    assert.equal(await f.queue.holds('inv-a'), true);
    const { got, c } = collect(f.queue, 10, (d) => settle(d.ack()));
    await until('two deliveries', () => got.length === 2);
    assert.deepEqual(got.map((d) => d.item.invocationId).sort(), ['inv-a', 'inv-b']);
    assert.deepEqual(
      got.map((d) => d.deliveries),
      [1, 1],
    );
    assert.equal(
      got.find((d) => d.item.invocationId === 'inv-b')?.item.notBefore,
      5,
      'the item crosses whole',
    );
    await sleep(1_500);
    await c.stop();
    assert.equal(got.length, 2, 'an acked item is not delivered again');
    assert.equal(await f.queue.holds('inv-a'), false);
  });

  t('a nak with a delay delivers the item again after the delay, counting the delivery', {}, async (f) => {
    await f.queue.enqueue({ invocationId: 'inv-n' });
    const times: number[] = [];
    const { got, c } = collect(f.queue, 10, (d) => {
      times.push(Date.now());
      if (d.deliveries === 1) settle(d.nak(1_500));
      else settle(d.ack());
    });
    await until('the redelivery', () => got.length === 2);
    await c.stop();
    assert.equal(got[1]!.deliveries, 2);
    assert.ok(
      times[1]! - times[0]! >= 1_400,
      `redelivered after ${times[1]! - times[0]!} ms, before the delay`,
    );
  });

  t('no room, no deliveries; a wake after room frees takes them', {}, async (f) => {
    let room = 0;
    const got: Delivery[] = [];
    const c = f.queue.consume((d) => got.push(d), { room: () => room });
    await f.queue.enqueue({ invocationId: 'inv-r' });
    await sleep(500);
    assert.equal(got.length, 0);
    room = 1;
    c.wake();
    await until('the delivery', () => got.length === 1);
    await got[0]!.ack();
    await c.stop();
  });

  t(
    'an item whose consumer died without an ack goes to another consumer after the ack wait',
    { ackWaitMs: 1_000 },
    async (f) => {
      await f.queue.enqueue({ invocationId: 'inv-d' });
      const first = collect(f.queue);
      await until('the first delivery', () => first.got.length === 1);
      await first.c.stop(); // died: no ack, no nak, no in-progress
      const other = await f.another();
      const second = collect(other, 10, (d) => settle(d.ack()));
      await until('the redelivery', () => second.got.length === 1);
      await second.c.stop();
      assert.equal(second.got[0]!.item.invocationId, 'inv-d');
      assert.equal(second.got[0]!.deliveries, 2);
    },
  );

  t('in-progress acks hold an item past the ack wait', { ackWaitMs: 1_000 }, async (f) => {
    await f.queue.enqueue({ invocationId: 'inv-p' });
    const { got, c } = collect(f.queue);
    await until('the delivery', () => got.length === 1);
    for (let i = 0; i < 8; i++) {
      got[0]!.inProgress();
      await sleep(300);
    }
    assert.equal(got.length, 1, 'not delivered again while the attempt reports progress');
    await got[0]!.ack();
    await c.stop();
  });

  t(
    'an item delivered max times without an ack is given up to onExhausted, once',
    { ackWaitMs: 800, maxDeliveries: 2 },
    async (f) => {
      const exhausted: [WorkItem, number][] = [];
      f.queue.onExhausted(async (item, n) => {
        exhausted.push([item, n]);
      });
      await f.queue.enqueue({ invocationId: 'inv-x' });
      const { got, c } = collect(f.queue);
      await until('the item given up', () => exhausted.length === 1);
      assert.equal(got.length, 2, 'delivered max times');
      assert.deepEqual(exhausted[0], [{ invocationId: 'inv-x' }, 2]);
      // onExhausted runs before the item is dropped from the queue: it is gone soon after.
      let held = true;
      for (let i = 0; i < 100 && held; i++) {
        held = await f.queue.holds('inv-x');
        if (held) await sleep(100);
      }
      assert.equal(held, false);
      await sleep(1_500);
      await c.stop();
      assert.equal(got.length, 2);
      assert.equal(exhausted.length, 1);
    },
  );

  t('replace leaves one fresh item of the invocation', {}, async (f) => {
    await f.queue.enqueue({ invocationId: 'inv-q' });
    await f.queue.enqueue({ invocationId: 'inv-q' });
    await f.queue.enqueue({ invocationId: 'inv-other' });
    await f.queue.replace({ invocationId: 'inv-q', notBefore: 7 });
    const { got, c } = collect(f.queue, 10, (d) => settle(d.ack()));
    await until('two deliveries', () => got.length === 2);
    await sleep(1_000);
    await c.stop();
    assert.deepEqual(got.map((d) => [d.item.invocationId, d.item.notBefore, d.deliveries]).sort(), [
      ['inv-other', undefined, 1],
      ['inv-q', 7, 1],
    ]);
  });

  t('two consumers share the work; with a claim as the fence each item runs once', {}, async (f) => {
    const ids = Array.from({ length: 20 }, (_, i) => `inv-s${i}`);
    for (const id of ids) await f.queue.enqueue({ invocationId: id });
    // A duplicate of one item, as a crash between a publish and its ack can leave.
    await f.queue.enqueue({ invocationId: 'inv-s3' });
    const claims = new Map<string, string>();
    const runs = new Map<string, number>();
    const done = new Set<string>();
    const run = (who: string) => (d: Delivery) => {
      const id = d.item.invocationId;
      if (done.has(id)) return settle(d.ack());
      if (claims.has(id)) return settle(d.nak(200));
      claims.set(id, who);
      runs.set(id, (runs.get(id) ?? 0) + 1);
      d.inProgress();
      setTimeout(() => {
        done.add(id);
        claims.delete(id);
        settle(d.ack());
      }, 50);
    };
    const other = await f.another();
    const a = f.queue.consume(run('a'), { room: () => 3 });
    const b = other.consume(run('b'), { room: () => 3 });
    await until('every item run', () => done.size === 20);
    await sleep(1_000);
    await a.stop();
    await b.stop();
    assert.deepEqual([...runs.keys()].sort(), [...ids].sort());
    for (const [id, n] of runs) assert.equal(n, 1, `${id} ran ${n} times`);
    for (const id of ids) assert.equal(await f.queue.holds(id), false, `${id} is still held`);
  });
}
