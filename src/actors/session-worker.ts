// A session worker thread: runs one Session actor per connection handed to
// it by the Acceptor, with comlink proxies to the Store and the Lottery.
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, logEvent } from '../log/logger.ts';
import { wrapPort } from './port-remote.ts';
import { Session, type LotteryApi } from './session.ts';
import type { StoreApi } from './store-api.ts';
import { StoreClient, type SessionStore } from './store-client.ts';
import type { FromSessionWorker, SessionWorkerData, ToSessionWorker } from './worker-messages.ts';

const data = workerData as SessionWorkerData;
const log = createLogger({ level: data.logLevel, format: data.logFormat });
const port = parentPort!;
const store = withInjectedCrash(new StoreClient(wrapPort<StoreApi>(data.storePort, 'store')), data.crashAfterBatches);
const lottery = wrapPort<LotteryApi>(data.lotteryPort, 'lottery');
const sessions = new Map<number, Session>();
const reply = (message: FromSessionWorker) => port.postMessage(message);

port.on('message', async (message: ToSessionWorker) => {
  switch (message.type) {
    case 'socket': {
      const { connection, socket } = message;
      const session = new Session(socket, {
        agencies: data.agencies,
        store,
        lottery,
        log,
        handshakeTimeoutMs: data.handshakeTimeoutMs,
        idleTimeoutMs: data.idleTimeoutMs,
        frameTimeoutMs: data.frameTimeoutMs,
        onHello: (agency) => reply({ type: 'hello', connection, agency }),
      });
      sessions.set(connection, session);
      void session.closed.then(() => {
        sessions.delete(connection);
        reply({ type: 'closed', connection });
      });
      break;
    }
    case 'replace':
      sessions.get(message.connection)?.replace();
      break;
    case 'stop':
      await Promise.all([...sessions.values()].map((session) => session.stop(message.reason)));
      logEvent(log, 'info', `close_session_worker`, 'success', { worker: data.worker });
      data.storePort.close();
      data.lotteryPort.close();
      reply({ type: 'stopped' });
      port.close();
      break;
  }
});
reply({ type: 'ready' });

/** Makes the worker die as a bug would, once it has passed `limit` batches on. */
function withInjectedCrash(target: SessionStore, limit: number | undefined): SessionStore {
  if (limit === undefined) return target;
  let batches = 0;
  return {
    welcome: (agency) => target.welcome(agency),
    append: (request) => {
      if (++batches > limit) {
        setImmediate(() => {
          throw new Error(`injected fault: session worker ${data.worker} crashes after ${limit} batches`);
        });
        return new Promise(() => undefined);
      }
      return target.append(request);
    },
  };
}
