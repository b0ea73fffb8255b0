// Acceptor actor. Runs on the supervisor thread: owns the listening socket
// and hands every accepted connection, paused and unread, to a session
// worker. It listens before the server can serve (the store still
// recovering, the session workers still booting): what it accepts meanwhile
// it holds, unread and unanswered, and hands over once told to serve. It
// also holds the line on how many connections are open at once,
// and on how many from one address have not yet shown who they are (TLS
// handshake and HELLO): one address flooding the server with connections
// cannot then crowd out an agency connecting from another. Refusals are
// logged at a bounded rate, since a peer can cause as many as it likes.

import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../log/logger.ts';
import { listenEarly, type EarlyListener } from '../transport/early-listener.ts';
import { RateLimitedLog } from '../log/rate-limited-log.ts';
import { loadRefusal } from '../transport/load-refusal.ts';
import { ErrorCode } from '../errors.ts';

/** How long a refused connection is given to send its first bytes, which say how to tell it (TLS or not). */
const REFUSAL_WAIT_MS = 1000;
/**
 * Refused connections kept open at once while they are told (each up to
 * REFUSAL_WAIT_MS, then a linger): past it, a refused connection is reset at
 * once, so that a flood past the limit cannot hold more sockets than this
 * on top of the connections the server serves.
 */
export const REFUSALS_AT_ONCE = 256;

export type AcceptorOptions = {
  host: string;
  port: number;
  maxConnections: number;
  /** Connections from one address that may be open at once before they say HELLO. */
  maxUnauthenticatedPerAddress: number;
  log: Logger;
  /** Refused connections logged one by one each second (see RateLimitedLog). */
  logRefusals?: number;
  /** Takes ownership of an accepted socket. */
  dispatch: (socket: Socket, connection: number) => void;
  /** The listening socket lottery-server opened before it loaded the rest (see early-listener.ts); without it the Acceptor opens one on host:port. */
  listening?: EarlyListener;
};

export class Acceptor {
  readonly #options: AcceptorOptions;
  #listener: EarlyListener | undefined;
  readonly #open = new Set<number>();
  /** Connections not yet authenticated, with their address, and how many each address has. */
  readonly #unauthenticated = new Map<number, string>();
  readonly #unauthenticatedByAddress = new Map<string, number>();
  readonly #refusals: RateLimitedLog;
  /** Refused connections still open while they are told why. */
  #refusing = 0;
  #nextConnection = 1;
  /**
   * Connections accepted before serve(): paused, so not a byte is read or
   * written until a session worker has them. They count against the limits
   * like any other, so a flood while the server starts is bounded alike.
   */
  readonly #held: Array<{ socket: Socket; connection: number }> = [];
  #serving = false;

  constructor(options: AcceptorOptions) {
    this.#options = options;
    this.#refusals = new RateLimitedLog(options.log, options.logRefusals);
  }

  /** Listens (or takes over the early listener), then accepts: what came before is counted now, in the order it came. */
  async listen(): Promise<AddressInfo> {
    // pauseOnConnect: not one byte is read here; the session worker reads them all.
    this.#listener = this.#options.listening ?? (await listenEarly(this.#options.host, this.#options.port));
    for (const socket of this.#listener.handOver((socket) => this.#accept(socket))) this.#accept(socket);
    return this.#listener.address;
  }

  /** Connections accepted and held until serve(). */
  get held(): number {
    return this.#held.length;
  }

  /** From now on every accepted connection goes to `dispatch`, those held first, in the order they came. */
  serve(): void {
    this.#serving = true;
    for (const { socket, connection } of this.#held.splice(0)) this.#options.dispatch(socket, connection);
  }

  /** Refused connections still open while they are told why: never more than REFUSALS_AT_ONCE. */
  get refusing(): number {
    return this.#refusing;
  }

  /** A session worker says this connection has closed. */
  released(connection: number): void {
    this.#open.delete(connection);
    this.authenticated(connection);
  }

  /** A session worker says this connection has said who it is: it no longer counts against its address. */
  authenticated(connection: number): void {
    const address = this.#unauthenticated.get(connection);
    if (address === undefined) return;
    this.#unauthenticated.delete(connection);
    const left = this.#unauthenticatedByAddress.get(address)! - 1;
    if (left === 0) this.#unauthenticatedByAddress.delete(address);
    else this.#unauthenticatedByAddress.set(address, left);
  }

  /** Stops accepting and resets the connections still held; those handed over are the workers' to close. */
  close(): Promise<void> {
    for (const { socket, connection } of this.#held.splice(0)) {
      socket.destroy();
      this.released(connection);
    }
    return new Promise((resolve) => {
      const server = this.#listener?.server ?? this.#options.listening?.server;
      if (server === undefined || !server.listening) return resolve();
      server.close(() => resolve());
    });
  }

  #accept(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const pending = this.#unauthenticatedByAddress.get(address) ?? 0;
    if (this.#open.size >= this.#options.maxConnections) {
      return this.#refuse(socket, `the server holds ${this.#open.size} connections, its limit`);
    }
    if (pending >= this.#options.maxUnauthenticatedPerAddress) {
      return this.#refuse(socket, `${pending} connections from ${address} have not said HELLO yet, the limit per address`);
    }
    const connection = this.#nextConnection++;
    this.#open.add(connection);
    this.#unauthenticated.set(connection, address);
    this.#unauthenticatedByAddress.set(address, pending + 1);
    if (this.#serving) this.#options.dispatch(socket, connection);
    else this.#held.push({ socket, connection });
  }

  #refuse(socket: Socket, reason: string): void {
    this.#refusals.event('warn', 'conexion', 'fail', {
      peer: `${socket.remoteAddress}:${socket.remotePort}`,
      code: ErrorCode.TOO_MANY_CONNECTIONS,
      error: reason,
    });
    socket.on('error', () => undefined);
    if (this.#refusing >= REFUSALS_AT_ONCE) {
      socket.destroy();
      return;
    }
    this.#refusing++;
    socket.once('close', () => this.#refusing--);
    // Told in a way it can read, TLS or plaintext (load-refusal.ts): so it is
    // told once its first bytes say which, or as plaintext if none come soon.
    let answered = false;
    const answer = (first: Buffer | undefined) => {
      if (answered) return;
      answered = true;
      clearTimeout(silent);
      socket.pause();
      socket.end(loadRefusal(first, reason));
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    const silent = setTimeout(() => answer(undefined), REFUSAL_WAIT_MS).unref();
    socket.once('data', answer);
    socket.once('close', () => clearTimeout(silent));
    socket.resume();
  }
}
