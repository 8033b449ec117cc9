import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CronSchedule } from './cron-schedule.js';

test('fires at each scheduled second, reports the scheduled instant, and stops', async () => {
  const fired: { at: Date; when: number }[] = [];
  const s = new CronSchedule({ kind: 'cron', cron: '* * * * * *', timezone: 'UTC', payload: '' }, (at) =>
    fired.push({ at, when: Date.now() }),
  ).start();
  const first = s.nextFireAt()!;
  assert.equal(first.getUTCMilliseconds(), 0);
  assert.ok(first.getTime() > Date.now() - 1 && first.getTime() <= Date.now() + 1000);
  while (fired.length < 2) await new Promise((r) => setTimeout(r, 50));
  s.stop();
  assert.equal(fired[0]!.at.getTime(), first.getTime());
  assert.equal(fired[1]!.at.getTime() - fired[0]!.at.getTime(), 1000);
  for (const f of fired) {
    assert.ok(f.when >= f.at.getTime(), 'never early');
    assert.ok(f.when - f.at.getTime() < 500, `on time (late by ${f.when - f.at.getTime()} ms)`);
  }
  assert.equal(s.nextFireAt(), null);
  const n = fired.length;
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(fired.length, n, 'no fires after stop');
});

test('ticks missed while stalled are not back-filled: one fire, then the next after now', async () => {
  let now = Date.parse('2025-01-01T00:00:00.500Z');
  const fired: Date[] = [];
  const s = new CronSchedule(
    { kind: 'cron', cron: '* * * * * *', timezone: 'UTC', payload: '' },
    (at) => fired.push(at),
    () => now,
  ).start();
  assert.equal(s.nextFireAt()?.toISOString(), '2025-01-01T00:00:01.000Z');
  // The clock jumps 10 s ahead before the timer runs (a stalled process, a suspended machine).
  now += 10_000;
  while (fired.length < 1) await new Promise((r) => setTimeout(r, 10));
  s.stop();
  assert.deepEqual(
    fired.map((d) => d.toISOString()),
    ['2025-01-01T00:00:01.000Z'],
  );
});
