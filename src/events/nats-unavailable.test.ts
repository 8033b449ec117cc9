import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from 'nats';
import { freePort } from '../../test/helpers/registry.js';
import { isNatsUnavailable, natsUnavailable } from './nats-unavailable.js';

const NATS = process.env.AGNI_TEST_NATS_URL || 'nats://127.0.0.1:4222';

test('a refused connection and a request nobody answers are NATS being away, answered 503 with a retry time', async () => {
  const refused = await connect({ servers: `127.0.0.1:${await freePort()}`, reconnect: false }).catch(
    (e) => e,
  );
  assert.ok(isNatsUnavailable(refused), String(refused));
  const nc = await connect({ servers: NATS });
  try {
    const timedOut = await nc
      .request('agni.test.nobody-here', undefined, { timeout: 200, noMux: true })
      .catch((e) => e);
    assert.ok(isNatsUnavailable(timedOut), String(timedOut));
  } finally {
    await nc.close();
  }
  const e = natsUnavailable(refused);
  assert.equal(e.code, 'nats_unavailable');
  assert.equal(e.status, 503);
  assert.equal(e.details?.retry_after_s, 2);
});

test('other errors are not NATS being away', () => {
  assert.equal(isNatsUnavailable(new Error('TIMEOUT')), false);
  assert.equal(isNatsUnavailable(Object.assign(new Error('x'), { name: 'NatsError', code: '409' })), false);
  assert.equal(isNatsUnavailable(undefined), false);
});
