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
};
export type ToStoreWorker = { type: 'connect'; port: MessagePort } | { type: 'close' };
export type FromStoreWorker = { type: 'ready'; snapshot: StoreSnapshot } | { type: 'failed'; message: string };

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
  { type: 'socket'; socket: Socket; connection: number } | { type: 'replace'; connection: number } | { type: 'stop'; reason: string };
export type FromSessionWorker =
  { type: 'ready' } | { type: 'hello'; connection: number; agency: number } | { type: 'closed'; connection: number };
