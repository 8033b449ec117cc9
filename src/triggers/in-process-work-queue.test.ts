import { InProcessWorkQueue } from './in-process-work-queue.js';
import { workQueueContract } from './work-queue-contract.js';

workQueueContract('InProcessWorkQueue', async (o) => {
  const queue = new InProcessWorkQueue(o);
  return { queue, another: async () => queue, close: () => queue.close() };
});
