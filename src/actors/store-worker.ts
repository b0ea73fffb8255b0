// The store worker thread: runs the one Store actor and, beside it, the
// Lottery actor, which reads the Store's ledger directly and records FINISH
// through it with no thread between them. Each is exposed, through comlink,
// on every port the supervisor connects to it for a session worker.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildResults, loadResultsSigner, RESULTS_FILE, resultsFiles, writeResults } from '../audit/results.ts';
import { contradictsStoredAgencies, contradictsStoredLottery } from '../ledger/index.ts';
import type { PostgresStore } from '../storage/postgres/postgres-store.ts';
import { BetRate, lotteryStatus, type LotteryStatus } from '../ledger/lottery-status.ts';
import { createLogger, logEvent } from '../log/logger.ts';
import { actorFace } from './actor-face.ts';
import { loadFaultHooks } from './fault-hooks.ts';
import { LOTTERY_API } from './lottery-api.ts';
import { Lottery } from './lottery.ts';
import { exposeOnPort } from './port-remote.ts';
import { STORE_API } from './store-api.ts';
import { Store } from './store.ts';
import { logStoredLottery } from './stored-lottery-line.ts';
import type { FromStoreWorker, StoreWorkerData, ToStoreWorker } from './worker-messages.ts';

const data = workerData as StoreWorkerData;
const log = createLogger({ level: data.logLevel, format: data.logFormat });
const port = parentPort!;
const reply = (message: FromStoreWorker) => port.postMessage(message);

/** Agencies with a live connection, as the supervisor tells them. */
const connectedAgencies = new Set<number>();
const betRate = new BetRate();
let betsPerSecond = 0;
let status: () => LotteryStatus = () => {
  throw new Error('the store is not open');
};
// prom-client only with --http-port, where someone can read the figures: it costs a thread's start a Node start's worth.
const metrics = data.metrics === true ? (await import('../metrics/lottery-metrics.ts')).storeMetrics(() => status()) : undefined;

try {
  const hooks = await loadFaultHooks();
  await hooks.beforeStoreOpens?.();
  // Told when this front-end learns of another's commit: the Lottery answers or draws if that is now due.
  let refreshed = () => {};
  const onCommit =
    metrics !== undefined
      ? (seconds: number, bets: number) => {
          metrics.commitSeconds.observe(seconds);
          metrics.commitBets.observe(bets);
        }
      : undefined;
  // The database's client loads only for a server given --store.
  const database: PostgresStore | undefined =
    data.store === undefined
      ? undefined
      : await (
          await import('../storage/postgres/postgres-store.ts')
        ).PostgresStore.open({
          ...data.store,
          agencies: data.agencies,
          log,
          onRefresh: () => refreshed(),
          ...(onCommit === undefined ? {} : { onCommit }),
        });
  const store =
    database ??
    (await Store.open({
      dataDir: data.dataDir,
      fsync: data.fsync,
      log,
      ...(onCommit === undefined ? {} : { onCommit }),
      // Uncaught on purpose: the worker dies of it, and the supervisor takes the server down into recovery.
      onFailure: (error) =>
        setImmediate(() => {
          throw error;
        }),
    }));
  const connected: MessagePort[] = [];
  const face = actorFace(store, STORE_API);
  const exposed = hooks.store?.(face) ?? face;
  const snapshot = store.snapshot();
  // A stored lottery that contradicts --agencies gets no Lottery: it could draw for the wrong agencies on resume.
  const refused =
    database !== undefined
      ? contradictsStoredAgencies(database.storedAgencies, data.agencies, data.store!.lottery)
      : contradictsStoredLottery(snapshot, data.agencies, data.dataDir);
  // What was found, said before anything this start does with it: results.json
  // written again, a draw pending since a restart (a refused start says only why).
  if (refused === undefined)
    logStoredLottery(log, snapshot, data.store === undefined ? data.dataDir : `lottery ${data.store.lottery} of --store`);
  status = () =>
    lotteryStatus({
      agencies: data.agencies,
      states: store.ledger.agencies(),
      connected: connectedAgencies,
      bets: store.ledger.bets,
      betsPerSecond,
      winners: store.ledger.winners,
      drawDigest: store.drawChain,
      closedAt: store.ledger.closedAt,
    });
  // Sampled each second, so that the rate is over the last few seconds whoever asks and however often.
  setInterval(() => (betsPerSecond = betRate.sample(performance.now(), store.ledger.bets)), 1000).unref();
  // Checked by lottery-server before the worker starts: here it only loads.
  const signer = data.resultsCert === '' ? undefined : await loadResultsSigner(data.resultsCert, data.resultsKey);
  const onDrawn = async ({ chain }: { chain: string }) => {
    const results = buildResults(store.ledger, data.agencies, (agency) => store.uploadDigest(agency), chain, store.chainHead);
    // With a database, beside the lottery's other rows, where every front-end and lottery-verify --store find them.
    if (database !== undefined) await database.publish(resultsFiles(results, signer));
    else await writeResults(data.dataDir, results, signer);
    logEvent(log, 'info', 'resultados', 'success', { archivo: RESULTS_FILE, firmado: signer === undefined ? 'no' : 'si' });
  };
  const lottery =
    refused === undefined
      ? new Lottery({
          agencies: data.agencies,
          store,
          log,
          status,
          ...(data.closeAt === '' ? {} : { closeAt: Date.parse(data.closeAt) }),
          onDrawn,
        })
      : undefined;
  // A draw recorded before a restart whose results.json was never written gets it now.
  const published =
    database !== undefined
      ? async () => (await database.published(RESULTS_FILE)) !== undefined
      : async () => existsSync(join(data.dataDir, RESULTS_FILE));
  if (lottery !== undefined && store.ledger.drawn && !(await published())) {
    await onDrawn({ chain: snapshot.chain });
  }
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
      case 'agency-connection':
        if (message.connected) connectedAgencies.add(message.agency);
        else connectedAgencies.delete(message.agency);
        break;
      case 'observe':
        reply({
          type: 'observed',
          id: message.id,
          ...(lottery === undefined ? {} : { status: status() }),
          metrics: metrics === undefined ? [] : await metrics.registry.getMetricsAsJSON(),
        });
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
