/** The cluster tests' own NATS and PostgreSQL really restart, keeping their data. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, StringCodec } from 'nats';
import pg from 'pg';
import { startOwnNats, startOwnPostgres } from './helpers/own-services.js';

test('own PostgreSQL keeps its rows across a restart', async () => {
  const svc = await startOwnPostgres();
  try {
    const q = async (sql: string) => {
      const c = new pg.Client({ connectionString: svc.url });
      await c.connect();
      try {
        return (await c.query(sql)).rows;
      } finally {
        await c.end();
      }
    };
    await q('CREATE TABLE t (v int); INSERT INTO t VALUES (7)');
    await svc.stop();
    await assert.rejects(q('SELECT 1'));
    await svc.start();
    assert.deepEqual(await q('SELECT v FROM t'), [{ v: 7 }]);
  } finally {
    await svc.destroy();
  }
});

test('own NATS keeps JetStream messages across a restart', async () => {
  const svc = await startOwnNats();
  try {
    const sc = StringCodec();
    let nc = await connect({ servers: svc.url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'T', subjects: ['t.>'] });
    await nc.jetstream().publish('t.x', sc.encode('kept'));
    await nc.close();
    await svc.stop();
    await svc.start();
    nc = await connect({ servers: svc.url });
    const m = await (await nc.jetstreamManager()).streams.getMessage('T', { seq: 1 });
    assert.equal(sc.decode(m.data), 'kept');
    await nc.close();
  } finally {
    await svc.destroy();
  }
});
