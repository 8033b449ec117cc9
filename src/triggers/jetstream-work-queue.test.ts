import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { JetStreamWorkQueue } from './jetstream-work-queue.js';
import { workQueueContract } from './work-queue-contract.js';

const NATS_URL = process.env.AGNI_TEST_NATS_URL || 'nats://127.0.0.1:4222';

// Each test has its own stream, subjects and consumer; two connections are two servers.
workQueueContract('JetStreamWorkQueue', async (o) => {
  const tag = randomBytes(5).toString('hex');
  const opts = { ...o, stream: `AGNI_WORK_TEST_${tag}`, subjectPrefix: `agni.worktest.${tag}` };
  const conns: NatsConnection[] = [];
  const queues: JetStreamWorkQueue[] = [];
  const open = async () => {
    const nc = await connect({ servers: NATS_URL });
    conns.push(nc);
    const q = await JetStreamWorkQueue.open(nc, opts);
    queues.push(q);
    return q;
  };
  const queue = await open();
  return {
    queue,
    another: open,
    async close() {
      for (const q of queues.slice(1)) await q.close();
      await queue.destroy();
      for (const nc of conns) await nc.close();
    },
  };
});
