// The store worker thread: runs the one Store actor and exposes it, through
// comlink, on every port the supervisor connects to it.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createLogger, logEvent } from '../log/logger.ts';
import { actorFace } from './actor-face.ts';
import { exposeOnPort } from './port-remote.ts';
import { STORE_API } from './store-api.ts';
import { loadFaultHooks } from './fault-hooks.ts';
import { Store } from './store.ts';
import type { FromStoreWorker, StoreWorkerData, ToStoreWorker } from './worker-messages.ts';

const data = workerData as StoreWorkerData;
const log = createLogger({ level: data.logLevel, format: data.logFormat });
const port = parentPort!;
const reply = (message: FromStoreWorker) => port.postMessage(message);

try {
  const store = await Store.open({
    dataDir: data.dataDir,
    fsync: data.fsync,
    log,
    // Uncaught on purpose: the worker dies of it, and the supervisor takes the server down into recovery.
    onFailure: (error) =>
      setImmediate(() => {
        throw error;
      }),
  });
  const connected: MessagePort[] = [];
  const face = actorFace(store, STORE_API);
  const exposed = (await loadFaultHooks()).store?.(face) ?? face;
  port.on('message', async (message: ToStoreWorker) => {
    if (message.type === 'connect') {
      connected.push(message.port);
      exposeOnPort(exposed, message.port);
    } else if (message.type === 'close') {
      await store.close();
      logEvent(log, 'info', 'close_store', 'success', { archivo: 'bets.csv' });
      for (const open of connected) open.close();
      port.close();
    }
  });
  reply({ type: 'ready', snapshot: store.snapshot() });
} catch (error) {
  reply({ type: 'failed', message: (error as Error).message });
  port.close();
}
