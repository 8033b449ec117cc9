import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InvocationEvent } from '../core/invocation-events.js';
import { InvocationFeed } from './invocation-feed.js';

const ev = (id: string): InvocationEvent => ({
  type: 'received',
  id,
  function: 'f',
  version: 1,
  alias: null,
  node: '',
  at: 0,
  status: 'queued',
});

test('every subscriber gets every event until it unsubscribes', () => {
  const feed = new InvocationFeed();
  const a: string[] = [];
  const b: string[] = [];
  const offA = feed.subscribe((e) => a.push(e.id));
  const offB = feed.subscribe((e) => b.push(e.id));
  assert.equal(feed.size, 2);
  feed.publish(ev('1'));
  offA();
  offA(); // twice is harmless
  feed.publish(ev('2'));
  assert.deepEqual(a, ['1']);
  assert.deepEqual(b, ['1', '2']);
  offB();
  assert.equal(feed.size, 0);
});

test('the same function subscribed twice is two subscriptions, each removed on its own', () => {
  const feed = new InvocationFeed();
  const seen: string[] = [];
  const l = (e: InvocationEvent) => seen.push(e.id);
  const off1 = feed.subscribe(l);
  feed.subscribe(l);
  off1();
  feed.publish(ev('x'));
  assert.deepEqual(seen, ['x']);
  assert.equal(feed.size, 1);
});

test('a listener that throws is reported and does not stop the others', () => {
  const errors: unknown[] = [];
  const feed = new InvocationFeed((e) => errors.push(e));
  const seen: string[] = [];
  feed.subscribe(() => {
    throw new Error('broken reader');
  });
  feed.subscribe((e) => seen.push(e.id));
  assert.doesNotThrow(() => feed.publish(ev('y')));
  assert.deepEqual(seen, ['y']);
  assert.equal((errors[0] as Error).message, 'broken reader');
});
