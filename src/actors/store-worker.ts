// The store worker thread: runs the one Store actor and, beside it, the
// Lottery actor, which reads the Store's ledger directly and records FINISH
// through it with no thread between them. Each is exposed, through comlink,
// on every port the supervisor connects to it for a session worker.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { contradictsStoredAgencies, contradictsStoredLottery } from '../ledger/index.ts';
import { PostgresStore } from '../storage/postgres/postgres-store.ts';
import { createLogger, logEvent } from '../log/logger.ts';
import { actorFace } from './actor-face.ts';
import { loadFaultHooks } from './fault-hooks.ts';
import { LOTTERY_API } from './lottery-api.ts';
import { Lottery } from './lottery.ts';
import { exposeOnPort } from './port-remote.ts';
import { STORE_API } from './store-api.ts';
import { Store } from './store.ts';
import type { FromStoreWorker, StoreWorkerData, ToStoreWorker } from './worker-messages.ts';

const data = workerData as StoreWorkerData;
const log = createLogger({ level: data.logLevel, format: data.logFormat });
const port = parentPort!;
const reply = (message: FromStoreWorker) => port.postMessage(message);

try {
  // Told when this front-end learns of another's commit: the Lottery answers or draws if that is now due.
  let refreshed = () => {};
  const store =
    data.store === undefined
      ? await Store.open({
          dataDir: data.dataDir,
          fsync: data.fsync,
          log,
          // Uncaught on purpose: the worker dies of it, and the supervisor takes the server down into recovery.
          onFailure: (error) =>
            setImmediate(() => {
              throw error;
            }),
        })
      : await PostgresStore.open({ ...data.store, agencies: data.agencies, log, onRefresh: () => refreshed() });
  const connected: MessagePort[] = [];
  const face = actorFace(store, STORE_API);
  const exposed = (await loadFaultHooks()).store?.(face) ?? face;
  const snapshot = store.snapshot();
  // A stored lottery that contradicts --agencies gets no Lottery: it could draw for the wrong agencies on resume.
  const refused =
    store instanceof PostgresStore
      ? contradictsStoredAgencies(store.storedAgencies, data.agencies, data.store!.lottery)
      : contradictsStoredLottery(snapshot, data.agencies, data.dataDir);
  const lottery = refused === undefined ? new Lottery({ agencies: data.agencies, store, log }) : undefined;
  refreshed = () => void lottery?.resume();
  const lotteryFace = lottery === undefined ? undefined : actorFace(lottery, LOTTERY_API);
  port.on('message', async (message: ToStoreWorker) => {
    switch (message.type) {
      case 'connect':
        connected.push(message.port);
        exposeOnPort(exposed, message.port);
        break;
      case 'connect-lottery':
        connected.push(message.port);
        if (lotteryFace !== undefined) exposeOnPort(lotteryFace, message.port);
        break;
      case 'stop-lottery':
        lottery?.stop();
        reply({ type: 'lottery-stopped' });
        break;
      case 'close':
        await store.close();
        logEvent(
          log,
          'info',
          'close_store',
          'success',
          data.store === undefined ? { archivo: 'bets.csv' } : { lottery: data.store.lottery },
        );
        for (const open of connected) open.close();
        port.close();
        break;
    }
  });
  // After a restart: a draw that every FINISH was recorded for but that did not complete runs now.
  await lottery?.resume();
  // The snapshot from before resume(), as the supervisor's first lines describe what was found.
  reply({ type: 'ready', snapshot, ...(refused === undefined ? {} : { refused }) });
} catch (error) {
  reply({ type: 'failed', message: (error as Error).message });
  port.close();
}
