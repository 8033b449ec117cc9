import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  describeTrigger,
  formatInZone,
  inHowLong,
  redactUrl,
  resultError,
  specOf,
  triggersOf,
  viewOf,
} from './trigger-view.js';

test('times are shown on the wall clock of the trigger zone', () => {
  const at = new Date('2025-06-02T07:00:00Z');
  assert.equal(formatInZone(at, 'Europe/Paris'), '2025-06-02 09:00:00 Europe/Paris');
  assert.equal(formatInZone(at, 'America/New_York'), '2025-06-02 03:00:00 America/New_York');
  assert.equal(formatInZone(new Date('2025-01-01T00:00:05Z'), 'UTC'), '2025-01-01 00:00:05 UTC');
});

test('how long until the next fire', () => {
  assert.equal(inHowLong(-5), 'now');
  assert.equal(inHowLong(4_000), 'in 4s');
  assert.equal(inHowLong(250_000), 'in 4m 10s');
  assert.equal(inHowLong(120_000), 'in 2m');
  assert.equal(inHowLong(2 * 3_600_000 + 5 * 60_000), 'in 2h 5m');
  assert.equal(inHowLong(5 * 86_400_000), 'in 5d');
});

test('spec lines and identities; the secret is not part of either', () => {
  assert.equal(
    describeTrigger({ kind: 'cron', cron: '0 9 * * *', timezone: 'Europe/Paris', payload: '' }),
    '0 9 * * * (Europe/Paris)',
  );
  assert.equal(
    describeTrigger({ kind: 'subject', subject: 'a.*', queue: 'agni.f', reply: 'b' }),
    'a.* (queue agni.f, reply b)',
  );
  assert.equal(
    describeTrigger({ kind: 'webhook', webhook: '/gh', secret: 'abcdefgh' }),
    'POST /hooks/gh (secret)',
  );
  // A trigger pinned to a version or an alias says so; one that follows the live version does not.
  assert.equal(
    describeTrigger({ kind: 'webhook', webhook: '/gh', alias: 'prod' }),
    'POST /hooks/gh -> @prod',
  );
  assert.equal(
    describeTrigger({ kind: 'cron', cron: '* * * * *', timezone: 'UTC', payload: '', version: 3 }),
    '* * * * * (UTC) -> @3',
  );
  const a = specOf({ kind: 'webhook', webhook: '/gh', secret: 'abcdefgh' });
  assert.equal(a, specOf({ kind: 'webhook', webhook: '/gh', secret: 'other-secret' }));
  assert.ok(!a.includes('abcdefgh'));
  assert.notEqual(a, specOf({ kind: 'webhook', webhook: '/gh2' }));
});

test('a listing row: next fire in the zone, secrets masked, missing triggers read as none', () => {
  const v = viewOf({
    function: 'f',
    version: 3,
    index: 0,
    trigger: { kind: 'cron', cron: '0 9 * * *', timezone: 'Europe/Paris', payload: '' },
    state: 'scheduled',
    nextFire: new Date('2025-06-02T07:00:00Z'),
    fires: 2,
    lastFiredAt: Date.parse('2025-06-01T07:00:00Z'),
    lastInvocationId: 'inv-1',
    lastStatus: 'succeeded',
    lastError: null,
  });
  assert.equal(v.nextFireAt, '2025-06-02T07:00:00.000Z');
  assert.equal(v.nextFireLocal, '2025-06-02 09:00:00 Europe/Paris');
  assert.equal(v.lastFiredAt, '2025-06-01T07:00:00.000Z');
  const w = viewOf({
    ...v,
    lastFiredAt: null,
    nextFire: null,
    trigger: { kind: 'webhook', webhook: '/x', secret: 'abcdefgh' },
  });
  assert.deepEqual(w.trigger, { kind: 'webhook', webhook: '/x', secret: '***' });
  assert.equal(w.nextFireLocal, null);
  assert.deepEqual(triggersOf({ name: 'old' } as never), []);
});

test('results and URLs', () => {
  assert.equal(resultError({ status: 'succeeded', exitCode: 0, error: null }), null);
  assert.equal(resultError({ status: 'queued', exitCode: null, error: null }), null);
  assert.equal(resultError({ status: 'failed', exitCode: 3, error: null }), 'exited with code 3');
  assert.equal(resultError({ status: 'error', exitCode: null, error: 'boom' }), 'boom');
  assert.equal(redactUrl('nats://user:pw@host:4222'), 'nats://***@host:4222');
  assert.equal(redactUrl('nats://token@host'), 'nats://***@host');
  assert.equal(redactUrl('nats://127.0.0.1:4222'), 'nats://127.0.0.1:4222');
});
