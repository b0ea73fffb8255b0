// The control messages between the supervisor and its workers, on each
// worker's parentPort. Actor calls go over their own MessagePorts (comlink);
// these only start, feed and stop the workers. Types only.
import type { MessagePort } from 'node:worker_threads';
import type { Socket } from 'node:net';
import type { LogFormat, LogLevel } from '../log/logger.ts';
import type { StoreSnapshot } from './store-api.ts';
import type { ServerTlsFiles } from '../transport/server-transport.ts';

export type LogSettings = { logLevel: LogLevel; logFormat: LogFormat };

export type StoreWorkerData = LogSettings & {
  dataDir: string;
  fsync: boolean;
  /** The agencies of the lottery: the Lottery beside the Store draws once 1..agencies have finished. */
  agencies: number;
};
export type ToStoreWorker =
  /** A port onto the Store, for a session worker. */
  | { type: 'connect'; port: MessagePort }
  /** A port onto the Lottery, for a session worker. */
  | { type: 'connect-lottery'; port: MessagePort }
  /** Answer every held WINNERS with SERVER_STOPPING; answered with lottery-stopped. */
  | { type: 'stop-lottery' }
  | { type: 'close' };
export type FromStoreWorker =
  /** `refused`: why the stored lottery cannot be served with these agencies; then no Lottery runs. */
  { type: 'ready'; snapshot: StoreSnapshot; refused?: string } | { type: 'failed'; message: string } | { type: 'lottery-stopped' };

export type SessionWorkerData = LogSettings & {
  worker: number;
  agencies: number;
  handshakeTimeoutMs: number;
  /** TLS handshakes run at once (TLS only). */
  maxHandshakes: number;
  idleTimeoutMs: number;
  frameTimeoutMs: number;
  storePort: MessagePort;
  lotteryPort: MessagePort;
  /** The PEM contents for mutual TLS; absent, connections are plaintext. */
  tls?: ServerTlsFiles;
};
export type ToSessionWorker =
  | { type: 'socket'; socket: Socket; connection: number }
  | { type: 'replace'; connection: number; by?: string }
  | { type: 'stop'; reason: string };
export type FromSessionWorker =
  { type: 'ready' } | { type: 'hello'; connection: number; agency: number } | { type: 'closed'; connection: number };
