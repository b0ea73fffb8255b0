// A session worker thread: runs one Session actor per connection handed to
// it by the Acceptor, with comlink proxies to the Store and the Lottery.
// Before a Session sees a connection, the transport makes it ready: a TLS
// handshake that verifies the client's certificate, or a look at the first
// bytes on a plaintext server (see server-transport.ts), within the
// handshake timeout (a TLS connection's wait for a handshake turn apart,
// bounded by the queue timeout), whose rest the Session then has for HELLO.
import type { Socket } from 'node:net';
import type { Identity } from '../pki/identity.ts';
import { parentPort, workerData } from 'node:worker_threads';
import { PER_BATCH_ACTIONS, createLogger, logEvent } from '../log/logger.ts';
import { RateLimitedLog } from '../log/rate-limited-log.ts';
import { plaintextTransport, tlsTransport } from '../transport/server-transport.ts';
import { socketTransport } from '../transport/socket-transport.ts';
import { loadFaultHooks } from './fault-hooks.ts';
import { wrapPort } from './port-remote.ts';
import type { LotteryApi } from './lottery-api.ts';
import { Session } from './session.ts';
import type { StoreApi } from './store-api.ts';
import { StoreClient } from './store-client.ts';
import type { FromSessionWorker, SessionWorkerData, ToSessionWorker } from './worker-messages.ts';
import { CLOSED_UNSPOKEN, ConnectionRefused } from '../errors.ts';

const data = workerData as SessionWorkerData;
const log = createLogger({
  level: data.logLevel,
  format: data.logFormat,
  ...(data.logBatches === false ? { dropSuccessOf: PER_BATCH_ACTIONS } : {}),
});
const port = parentPort!;
const storeClient = new StoreClient(wrapPort<StoreApi>(data.storePort, 'store'));
const store = (await loadFaultHooks()).sessionStore?.(storeClient, data.worker) ?? storeClient;
const lottery = wrapPort<LotteryApi>(data.lotteryPort, 'lottery');
const sessions = new Map<number, Session>();
const transport = data.tls === undefined ? plaintextTransport : tlsTransport(data.tls, data.maxHandshakes);
/** Connections still in their handshake; aborted when the worker stops. */
const handshakes = new Set<AbortController>();
const refusals = new RateLimitedLog(log, data.logRefusals);
let stopping = false;
const reply = (message: FromSessionWorker) => port.postMessage(message);
// Measured only with --http-port, where someone can read it: prom-client is
// not even loaded otherwise (it costs a thread's start a Node start's worth).
const measured = data.metrics === true ? await sessionMeasures() : undefined;

async function sessionMeasures() {
  const { BatchOutcome, sessionMetrics } = await import('../metrics/lottery-metrics.ts');
  const metrics = sessionMetrics();
  /** Each outcome's counter, bound once: the ledger's outcomes as the metrics name them (a gap, or bets after FINISH or the draw, is `refused`). */
  const batchCounters = {
    stored: metrics.batches.labels(BatchOutcome.STORED),
    duplicate: metrics.batches.labels(BatchOutcome.DUPLICATE),
    invalid: metrics.batches.labels(BatchOutcome.INVALID),
    rejected: metrics.batches.labels(BatchOutcome.REFUSED),
  } as const;
  return { metrics, batchCounters };
}

port.on('message', async (message: ToSessionWorker) => {
  switch (message.type) {
    case 'socket': {
      const { connection, socket } = message;
      const peer = `${socket.remoteAddress}:${socket.remotePort}`;
      const stopped = new AbortController();
      handshakes.add(stopped);
      try {
        const accepted = await transport.accept(socket, {
          timeoutMs: data.handshakeTimeoutMs,
          queueTimeoutMs: data.handshakeQueueTimeoutMs,
          stopped: stopped.signal,
        });
        startSession(connection, accepted.stream, accepted.identity, accepted.spentMs);
      } catch (error) {
        if (!(error instanceof ConnectionRefused)) throw error;
        // A peer that only opens and closes (a port probe) is not worth a line.
        if (error.code !== CLOSED_UNSPOKEN && !stopped.signal.aborted)
          refusals.event('warn', 'conexion', 'fail', { peer, code: error.code, error: error.message });
        reply({ type: 'closed', connection });
      } finally {
        handshakes.delete(stopped);
      }
      break;
    }
    case 'metrics':
      if (measured !== undefined) reply({ type: 'metrics', id: message.id, metrics: await measured.metrics.registry.getMetricsAsJSON() });
      break;
    case 'replace':
      sessions.get(message.connection)?.replace(message.by);
      break;
    case 'stop':
      stopping = true;
      for (const handshake of handshakes) handshake.abort();
      await Promise.all([...sessions.values()].map((session) => session.stop(message.reason)));
      logEvent(log, 'info', `close_session_worker`, 'success', { worker: data.worker });
      data.storePort.close();
      data.lotteryPort.close();
      port.close();
      break;
  }
});
reply({ type: 'ready' });

function startSession(connection: number, stream: Socket, identity: Identity | undefined, handshakeSpentMs: number): void {
  if (stopping) {
    stream.destroy();
    reply({ type: 'closed', connection });
    return;
  }
  const session = new Session(socketTransport(stream), {
    agencies: data.agencies,
    store,
    lottery,
    log,
    identity,
    handshakeTimeoutMs: data.handshakeTimeoutMs,
    handshakeSpentMs,
    idleTimeoutMs: data.idleTimeoutMs,
    frameTimeoutMs: data.frameTimeoutMs,
    onHello: (agency) => reply({ type: 'hello', connection, agency }),
    // Measured only where someone can read it: without --http-port a batch costs nothing more.
    ...(measured !== undefined
      ? {
          onAnswered: (outcome: keyof typeof measured.batchCounters, seconds: number) => {
            measured.batchCounters[outcome].inc();
            measured.metrics.ack.observe(seconds);
          },
        }
      : {}),
  });
  sessions.set(connection, session);
  void session.closed.then(() => {
    sessions.delete(connection);
    reply({ type: 'closed', connection });
  });
}
