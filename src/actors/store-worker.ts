// The store worker thread: runs the one Store actor and exposes it, through
// comlink, on every port the supervisor connects to it.
import { expose } from 'comlink';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createLogger, logEvent } from '../log/logger.ts';
import { Store } from './store.ts';
import type { FromStoreWorker, StoreWorkerData, ToStoreWorker } from './worker-messages.ts';

const data = workerData as StoreWorkerData;
const log = createLogger({ level: data.logLevel, format: data.logFormat });
const port = parentPort!;
const reply = (message: FromStoreWorker) => port.postMessage(message);

try {
  const store = await Store.open({ dataDir: data.dataDir, fsync: data.fsync, log });
  const connected: MessagePort[] = [];
  port.on('message', async (message: ToStoreWorker) => {
    if (message.type === 'connect') {
      connected.push(message.port);
      expose(store, message.port);
    } else if (message.type === 'close') {
      await store.close();
      logEvent(log, 'info', 'close_store', 'success', { archivo: 'bets.csv' });
      reply({ type: 'closed' });
      for (const open of connected) open.close();
      port.close();
    }
  });
  reply({ type: 'ready', snapshot: store.snapshot() });
} catch (error) {
  reply({ type: 'failed', message: (error as Error).message });
  port.close();
}
