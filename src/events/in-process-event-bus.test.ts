import { eventBusContract } from './event-bus-contract.js';
import { InProcessEventBus } from './in-process-event-bus.js';

eventBusContract('InProcessEventBus', async () => {
  const bus = new InProcessEventBus();
  return { a: bus, b: bus, sync: async () => {}, close: () => bus.close() };
});
