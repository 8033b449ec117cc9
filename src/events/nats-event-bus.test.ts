/** The EventBus contract on the real NATS (127.0.0.1:4222, or AGNI_TEST_NATS_URL): two connections, two servers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from 'nats';
import pino from 'pino';
import { eventBusContract } from './event-bus-contract.js';
import { EVENTS_SUBJECT_PREFIX, openNatsEventBus } from './nats-event-bus.js';

const URL_ = process.env.AGNI_TEST_NATS_URL || 'nats://127.0.0.1:4222';
const logger = pino({ level: 'silent' });

eventBusContract('NatsEventBus', async () => {
  const a = await openNatsEventBus(URL_, logger);
  const b = await openNatsEventBus(URL_, logger);
  return {
    a,
    b,
    sync: async () => {
      await a.flush();
      await b.flush();
    },
    close: async () => {
      await a.close();
      await b.close();
    },
  };
});

test('NatsEventBus: events travel on agni.cluster.events.<topic> as JSON', async () => {
  const bus = await openNatsEventBus(URL_, logger);
  const nc = await connect({ servers: URL_ });
  try {
    const sub = nc.subscribe(`${EVENTS_SUBJECT_PREFIX}test.wire`, { max: 1 });
    await nc.flush();
    await bus.publish('test.wire', { id: 'x' });
    for await (const m of sub) {
      assert.deepEqual(JSON.parse(new TextDecoder().decode(m.data)), { id: 'x' });
      break;
    }
  } finally {
    await nc.close();
    await bus.close();
  }
});
