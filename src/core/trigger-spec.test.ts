import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cronProblem,
  isIanaZone,
  isPublishSubject,
  isSubscribeSubject,
  isWebhookPath,
  nextFireTime,
  outsidePrefix,
  type SubjectTrigger,
  subjectMatches,
  subjectPrefixOf,
} from './trigger-spec.js';

test('next fire time follows the zone, DST included', () => {
  // 09:00 every day in Paris: 07:00 UTC in summer (CEST), 08:00 UTC in winter (CET).
  const summer = nextFireTime('0 9 * * *', 'Europe/Paris', new Date('2025-06-01T10:00:00Z'));
  assert.equal(summer?.toISOString(), '2025-06-02T07:00:00.000Z');
  const winter = nextFireTime('0 9 * * *', 'Europe/Paris', new Date('2025-12-01T10:00:00Z'));
  assert.equal(winter?.toISOString(), '2025-12-02T08:00:00.000Z');
  // Across the spring-forward night, the wall-clock hour stays 09:00.
  const across = nextFireTime('0 9 * * *', 'Europe/Paris', new Date('2025-03-29T12:00:00Z'));
  assert.equal(across?.toISOString(), '2025-03-30T07:00:00.000Z');
  assert.equal(
    nextFireTime('*/5 * * * *', 'UTC', new Date('2025-01-01T00:07:30Z'))?.toISOString(),
    '2025-01-01T00:10:00.000Z',
  );
});

test('next fire time is strictly after the reference, to the second with 6 fields', () => {
  const at = new Date('2025-01-01T00:00:10.000Z');
  assert.equal(nextFireTime('* * * * * *', 'UTC', at)?.toISOString(), '2025-01-01T00:00:11.000Z');
  assert.equal(nextFireTime('*/15 * * * * *', 'UTC', at)?.toISOString(), '2025-01-01T00:00:15.000Z');
  assert.equal(
    nextFireTime('0 0 * * *', 'UTC', new Date('2025-01-01T00:00:00.000Z'))?.toISOString(),
    '2025-01-02T00:00:00.000Z',
  );
});

test('cron expressions: 5 or 6 fields; day names, months and nicknames work', () => {
  assert.equal(cronProblem('0 9 * * MON-FRI'), undefined);
  assert.equal(cronProblem('0 0 1 JAN *'), undefined);
  assert.equal(cronProblem('@hourly'), undefined);
  assert.equal(cronProblem('*/10 * * * * *'), undefined);
  assert.match(cronProblem('* * * *') ?? '', /five, six, or seven|5 or 6/);
  assert.match(cronProblem('0 0 * * * * 2030') ?? '', /5 or 6/);
  assert.match(cronProblem('0 25 * * *') ?? '', /hour/);
  assert.match(cronProblem('0 0 31 2 *') ?? '', /never fires/);
});

test('time zones must be IANA names', () => {
  assert.ok(isIanaZone('Europe/Paris'));
  assert.ok(isIanaZone('America/Argentina/Buenos_Aires'));
  assert.ok(isIanaZone('UTC'));
  assert.ok(isIanaZone('Etc/GMT+5'));
  assert.ok(!isIanaZone('Mars/Olympus'));
  assert.ok(!isIanaZone('+01:00'));
  assert.ok(!isIanaZone(''));
});

test('subjects: wildcards only where NATS allows them, and matching', () => {
  assert.ok(isSubscribeSubject('orders.created'));
  assert.ok(isSubscribeSubject('orders.*.eu'));
  assert.ok(isSubscribeSubject('orders.>'));
  assert.ok(!isSubscribeSubject('orders.>.eu'));
  assert.ok(!isSubscribeSubject('orders..x'));
  assert.ok(!isSubscribeSubject('orders x'));
  assert.ok(!isSubscribeSubject(''));
  assert.ok(isPublishSubject('orders.done'));
  assert.ok(!isPublishSubject('orders.*'));
  assert.ok(subjectMatches('orders.*', 'orders.done'));
  assert.ok(!subjectMatches('orders.*', 'orders.done.eu'));
  assert.ok(subjectMatches('orders.>', 'orders.done.eu'));
  assert.ok(!subjectMatches('orders.>', 'orders'));
  assert.ok(subjectMatches('a.b', 'a.b'));
  assert.ok(!subjectMatches('a.b', 'a.c'));
  assert.ok(!subjectMatches('a', 'a.b'));
});

test('webhook paths', () => {
  assert.ok(isWebhookPath('/github/push'));
  assert.ok(isWebhookPath('/v1.2/x_y~z-w'));
  assert.ok(!isWebhookPath('github'));
  assert.ok(!isWebhookPath('/'));
  assert.ok(!isWebhookPath('/a//b'));
  assert.ok(!isWebhookPath('/a/'));
  assert.ok(!isWebhookPath('/a/../b'));
  assert.ok(!isWebhookPath('/a?b=1'));
  assert.ok(!isWebhookPath(`/${'x'.repeat(300)}`));
});

test('subject triggers are confined to the operator prefix: subject, reply and a given queue', () => {
  const t = (subject: string, more: Partial<SubjectTrigger> = {}): SubjectTrigger => ({
    kind: 'subject',
    subject,
    queue: 'agni.f',
    ...more,
  });
  const p = 'agni.';
  for (const inside of ['agni.orders', 'agni.>', 'agni.*', 'agni.a.*.b'])
    assert.equal(outsidePrefix(t(inside), 'f', p), undefined, inside);
  for (const outside of ['>', '*', '*.x', 'agni', 'agnix.y', 'other.agni.x', '*.orders'])
    assert.equal(outsidePrefix(t(outside), 'f', p), 'subject', outside);
  assert.equal(outsidePrefix(t('agni.a', { reply: 'other.b' }), 'f', p), 'reply');
  assert.equal(outsidePrefix(t('agni.a', { reply: 'agni.b' }), 'f', p), undefined);
  assert.equal(outsidePrefix(t('agni.a', { queue: 'workers' }), 'f', p), 'queue');
  assert.equal(
    outsidePrefix(t('team.a', { queue: 'agni.f' }), 'f', 'team.'),
    undefined,
    'the default queue is fine',
  );
  assert.equal(subjectPrefixOf(undefined), 'agni.');
  assert.equal(subjectPrefixOf('team1'), 'team1.');
  assert.equal(subjectPrefixOf('team1.jobs.'), 'team1.jobs.');
  for (const bad of ['', '.', '>', 'a.*', 'a b', 'a..b'])
    assert.throws(() => subjectPrefixOf(bad), /--subject-prefix/, JSON.stringify(bad));
});

test('a trigger may name the version or the alias its fires run, not both', async () => {
  const { parseTriggers, triggerQualifier } = await import('./trigger-spec.js');
  const fail = (field: string, expected: string): never => {
    throw new Error(`${field}: ${expected}`);
  };
  const [cron, hook, sub] = parseTriggers(
    [
      { cron: '* * * * *', version: 3 },
      { webhook: '/x', alias: 'prod' },
      { subject: 'agni.a', queue: 'agni.q' },
    ],
    'f',
    fail,
  );
  assert.deepEqual(triggerQualifier(cron!), { kind: 'version', version: 3 });
  assert.deepEqual(triggerQualifier(hook!), { kind: 'alias', alias: 'prod' });
  assert.deepEqual(triggerQualifier(sub!), { kind: 'live' });
  assert.throws(
    () => parseTriggers([{ cron: '* * * * *', version: 3, alias: 'prod' }], 'f', fail),
    /triggers\.0: at most one of version and alias/,
  );
  assert.throws(
    () => parseTriggers([{ webhook: '/x', version: 0 }], 'f', fail),
    /triggers\.0\.version: a version number/,
  );
  assert.throws(() => parseTriggers([{ webhook: '/x', version: '2' }], 'f', fail), /triggers\.0\.version/);
  assert.throws(
    () => parseTriggers([{ webhook: '/x', alias: 'latest' }], 'f', fail),
    /triggers\.0\.alias: .*reserved/,
  );
});
