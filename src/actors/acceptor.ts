// Acceptor actor. Runs on the supervisor thread: owns the listening socket
// and hands every accepted connection, paused and unread, to a session
// worker. It also holds the line on how many connections are open at once.

import net, { type AddressInfo, type Socket } from 'node:net';
import { logEvent, type Logger } from '../log/logger.ts';
import { encodeMessage } from '../wire/codec.ts';
import { ErrorCode } from '../wire/errors.ts';

export type AcceptorOptions = {
  host: string;
  port: number;
  maxConnections: number;
  log: Logger;
  /** Takes ownership of an accepted socket. */
  dispatch: (socket: Socket, connection: number) => void;
};

export class Acceptor {
  readonly #options: AcceptorOptions;
  readonly #server: net.Server;
  readonly #open = new Set<number>();
  #nextConnection = 1;

  constructor(options: AcceptorOptions) {
    this.#options = options;
    // pauseOnConnect: not one byte is read here; the session worker reads them all.
    this.#server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.#accept(socket));
  }

  get connections(): number {
    return this.#open.size;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: this.#options.host, port: this.#options.port, backlog: 4096 }, () => {
        this.#server.off('error', reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /** A session worker says this connection has closed. */
  released(connection: number): void {
    this.#open.delete(connection);
  }

  /** Stops accepting; connections already handed over are the workers' to close. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
    });
  }

  #accept(socket: Socket): void {
    if (this.#open.size >= this.#options.maxConnections) {
      logEvent(this.#options.log, 'warn', 'conexion', 'fail', {
        peer: `${socket.remoteAddress}:${socket.remotePort}`,
        code: ErrorCode.TOO_MANY_CONNECTIONS,
        conexiones: this.#open.size,
      });
      socket.on('error', () => undefined);
      socket.end(
        encodeMessage({ type: 'ERROR', code: ErrorCode.TOO_MANY_CONNECTIONS, message: `the server holds ${this.#open.size} connections, its limit` }),
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const connection = this.#nextConnection++;
    this.#open.add(connection);
    this.#options.dispatch(socket, connection);
  }
}
