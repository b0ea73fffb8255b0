// The control messages between the supervisor and its workers, on each
// worker's parentPort. Actor calls go over their own MessagePorts (comlink);
// these only start, feed and stop the workers. Types only.
import type { MessagePort } from 'node:worker_threads';
import type { Socket } from 'node:net';
import type { LogFormat, LogLevel } from '../log/logger.ts';
import type { StoreSnapshot } from './store-api.ts';
import type { LotteryStatus } from '../ledger/lottery-status.ts';
import type { MetricsSnapshot } from '../metrics/lottery-metrics.ts';
import type { ServerTlsFiles } from '../transport/server-transport.ts';

/**
 * `logBatches`: false drops the success lines of per-batch events (see PER_BATCH_ACTIONS).
 * `logRefusals`: refused connections logged one by one each second (see RateLimitedLog).
 */
export type LogSettings = { logLevel: LogLevel; logFormat: LogFormat; logBatches?: boolean; logRefusals?: number };

export type StoreWorkerData = LogSettings & {
  dataDir: string;
  /** A PostgreSQL URL to store the lottery in instead of the data dir, and the lottery's name there. */
  store?: { url: string; lottery: string };
  fsync: boolean;
  /** The agencies of the lottery: the Lottery beside the Store draws once 1..agencies have finished. */
  agencies: number;
  /** Measure group commits for the metrics (the HTTP endpoint is on). */
  metrics?: boolean;
  /** The sales close (ISO 8601), or '' for none. */
  closeAt: string;
  /** The results-signing identity's files, or '' for results.json unsigned. */
  resultsCert: string;
  resultsKey: string;
};
export type ToStoreWorker =
  /** A port onto the Store, for a session worker. */
  | { type: 'connect'; port: MessagePort }
  /** A port onto the Lottery, for a session worker. */
  | { type: 'connect-lottery'; port: MessagePort }
  /** Answer every held WINNERS with SERVER_STOPPING; answered with lottery-stopped. */
  | { type: 'stop-lottery' }
  /** Whether an agency has a live connection now (the supervisor knows which connection speaks for it). */
  | { type: 'agency-connection'; agency: number; connected: boolean }
  /** The status and the metrics, for the HTTP endpoint; answered with observed. */
  | { type: 'observe'; id: number }
  | { type: 'close' };
export type FromStoreWorker =
  /** `refused`: why the stored lottery cannot be served with these agencies; then no Lottery runs. */
  | { type: 'ready'; snapshot: StoreSnapshot; refused?: string }
  | { type: 'failed'; message: string }
  | { type: 'lottery-stopped' }
  /** `status` is absent when no Lottery runs (a stored lottery refused at start). */
  | { type: 'observed'; id: number; status?: LotteryStatus; metrics: MetricsSnapshot };

export type SessionWorkerData = LogSettings & {
  worker: number;
  agencies: number;
  handshakeTimeoutMs: number;
  /** How long a whole ClientHello may wait for a handshake turn, apart from handshakeTimeoutMs (TLS only). */
  handshakeQueueTimeoutMs: number;
  /** TLS handshakes run at once (TLS only). */
  maxHandshakes: number;
  idleTimeoutMs: number;
  frameTimeoutMs: number;
  storePort: MessagePort;
  lotteryPort: MessagePort;
  /** Measure for the metrics (the HTTP endpoint is on). */
  metrics?: boolean;
  /** The PEM contents for mutual TLS; absent, connections are plaintext. */
  tls?: ServerTlsFiles;
};
export type ToSessionWorker =
  | { type: 'socket'; socket: Socket; connection: number }
  | { type: 'replace'; connection: number; by?: string }
  | { type: 'stop'; reason: string }
  /** The worker's metrics, for a scrape; answered with metrics. */
  | { type: 'metrics'; id: number };
export type FromSessionWorker =
  | { type: 'ready' }
  | { type: 'hello'; connection: number; agency: number }
  | { type: 'closed'; connection: number }
  | { type: 'metrics'; id: number; metrics: MetricsSnapshot };
