/**
 * The EventBus contract, as a suite every implementation runs from its own test file:
 * `eventBusContract(name, factory)`. `a` and `b` stand for two servers (one bus twice in-process).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isAgniError } from '../core/errors.js';
import type { BusEvent, EventBus } from './event-bus.js';

export interface EventBusFixture {
  a: EventBus;
  b: EventBus;
  /** resolves once subscriptions made so far are in force everywhere (NATS: a flush of both) */
  sync(): Promise<void>;
  close(): Promise<void>;
}

const WAIT_MS = 10_000;

/** the events `bus` gets on `topic`, and a way to wait for the first `n` of them */
function collect(bus: EventBus, topic: string) {
  const got: BusEvent[] = [];
  const wakers: (() => void)[] = [];
  const off = bus.subscribe(topic, (e) => {
    got.push(e);
    for (const w of wakers.splice(0)) w();
  });
  return {
    got,
    off,
    async atLeast(n: number): Promise<BusEvent[]> {
      const until = Date.now() + WAIT_MS;
      while (got.length < n) {
        const left = until - Date.now();
        assert.ok(left > 0, `expected ${n} events on ${topic}, got ${got.length}: ${JSON.stringify(got)}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          wakers.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
      return got;
    },
  };
}

export function eventBusContract(name: string, factory: () => Promise<EventBusFixture>): void {
  const withBus = (title: string, fn: (f: EventBusFixture, T: (topic: string) => string) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      const f = await factory();
      // Topics of this run only: other test runs may share the NATS server.
      const run = randomBytes(4).toString('hex');
      try {
        await fn(f, (topic) => topic.replace(/^test\./, `test.${run}.`));
      } finally {
        await f.close();
      }
    });

  withBus('an event reaches every subscriber, on every server, as a copy of what was sent', async (f, T) => {
    const onA = collect(f.a, T('test.settled'));
    const onB = collect(f.b, T('test.settled'));
    const onB2 = collect(f.b, T('test.settled'));
    await f.sync();
    const sent = { id: 'inv-1', nested: { n: 1 } };
    await f.a.publish(T('test.settled'), sent);
    sent.nested.n = 2;
    for (const c of [onA, onB, onB2])
      assert.deepEqual(await c.atLeast(1), [{ id: 'inv-1', nested: { n: 1 } }]);
    const [x] = onA.got;
    const [y] = onB.got;
    assert.notEqual(x, y, 'each subscriber gets its own object');
  });

  withBus('topics are exact: neither another topic nor a longer one is delivered', async (f, T) => {
    const exact = collect(f.b, T('test.a'));
    await f.sync();
    await f.a.publish(T('test.a.b'), { n: 1 });
    await f.a.publish(T('test.b'), { n: 2 });
    await f.a.publish(T('test.a'), { n: 3 });
    assert.deepEqual(await exact.atLeast(1), [{ n: 3 }]);
  });

  withBus("one publisher's events arrive in the order sent", async (f, T) => {
    const c = collect(f.b, T('test.order'));
    await f.sync();
    for (let i = 0; i < 100; i++) await f.a.publish(T('test.order'), { i });
    const got = await c.atLeast(100);
    assert.deepEqual(
      got.map((e) => e.i),
      [...Array(100).keys()],
    );
  });

  withBus('unsubscribe stops that subscription only', async (f, T) => {
    const gone = collect(f.b, T('test.unsub'));
    const kept = collect(f.b, T('test.unsub'));
    await f.sync();
    await f.a.publish(T('test.unsub'), { n: 1 });
    await gone.atLeast(1);
    gone.off();
    gone.off(); // twice is harmless
    await f.sync();
    await f.a.publish(T('test.unsub'), { n: 2 });
    assert.deepEqual(await kept.atLeast(2), [{ n: 1 }, { n: 2 }]);
    assert.deepEqual(gone.got, [{ n: 1 }]);
  });

  withBus('a handler that throws harms neither the publisher nor the other handlers', async (f, T) => {
    f.b.subscribe(T('test.throw'), () => {
      throw new Error('boom');
    });
    const c = collect(f.b, T('test.throw'));
    await f.sync();
    await f.a.publish(T('test.throw'), { n: 1 });
    await f.a.publish(T('test.throw'), { n: 2 });
    assert.deepEqual(await c.atLeast(2), [{ n: 1 }, { n: 2 }]);
  });

  withBus('a handler runs after publish returned, never inside it', async (f, T) => {
    let returned = false;
    let sawReturned: boolean | undefined;
    const c = collect(f.a, T('test.later'));
    f.a.subscribe(T('test.later'), () => {
      sawReturned = returned;
    });
    await f.sync();
    const p = f.a.publish(T('test.later'), {});
    returned = true;
    await p;
    await c.atLeast(1);
    assert.equal(sawReturned, true);
  });

  withBus('bad topics and events that are not JSON objects are refused, naming the topic', async (f, T) => {
    for (const bad of ['', 'a.>', 'a.*', 'a..b', 'a b', '.a', 'a.']) {
      await assert.rejects(
        f.a.publish(bad, {}),
        (e) => isAgniError(e) && e.code === 'bad_request' && e.message.includes(JSON.stringify(bad)),
      );
      assert.throws(
        () => f.a.subscribe(bad, () => {}),
        (e) => isAgniError(e) && e.code === 'bad_request',
      );
    }
    await assert.rejects(
      f.a.publish(T('test.x'), [] as unknown as object),
      (e) => isAgniError(e) && e.code === 'bad_request',
    );
  });

  withBus('after close nothing is delivered and publishing is refused', async (f, T) => {
    const c = collect(f.b, T('test.closed'));
    const marker = collect(f.b, T('test.marker'));
    await f.sync();
    await f.a.close();
    await assert.rejects(
      f.a.publish(T('test.closed'), {}),
      (e) => isAgniError(e) && e.code === 'backend_unavailable',
    );
    await f.b.close();
    // b is closed: its subscriptions are gone, and new ones deliver nothing
    const late = collect(f.b, T('test.closed'));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(c.got, []);
    assert.deepEqual(marker.got, []);
    assert.deepEqual(late.got, []);
  });
}
