// A connection to the lottery server as the agency sees it: messages in,
// messages out, over one TCP socket, plaintext or TLS. Everything that can go
// wrong with the connection surfaces as a ConnectionError from receive() or
// send(); TLS failures carry the codes of client-tls.ts.

import net, { type Socket } from 'node:net';
import { loadTls } from '../transport/tls-module.ts';
import { clientTlsOptions, describeTlsError, type ClientTlsFiles } from '../transport/client-tls.ts';
import { decodeMessage, encodeMessage } from '../wire/codec.ts';
import { FrameDecoder } from '../wire/frame-decoder.ts';
import { writesTogether } from '../transport/writes-together.ts';
import type { Message } from '../wire/messages.ts';
import { ClientFailure, ConnectionError } from '../errors.ts';

/**
 * How long a TLS client waits for its handshake once the server has taken
 * the connection: longer than a server with default settings keeps a
 * connection in line for a handshake turn and then in its handshake (60 s
 * and 10 s, --handshake-queue-timeout and --handshake-timeout), so that the
 * server always answers first, with a handshake or with "busy, try again",
 * and an agency in line never gives up its place to start again at the back.
 */
export const TLS_HANDSHAKE_WAIT_MS = 90_000;

export class ServerConnection {
  readonly #socket: Socket;
  readonly #decoder = new FrameDecoder();
  readonly #inbox: Message[] = [];
  #waiter: { resolve: (message: Message) => void; reject: (error: Error) => void } | undefined;
  #failure: ConnectionError | undefined;
  /**
   * An ERROR that ends the connection (one not about a single batch): the
   * server closes right after it, and whatever fails next (a send, a
   * receive) reports it, not the closed socket it leads to.
   */
  #closingError: ConnectionError | undefined;
  /** Called before each frame: the frames of one tick (a window refilled at once, FINISH and WINNERS) leave in one write. */
  readonly #sendTogether: () => void;

  private constructor(socket: Socket, server: string) {
    this.#socket = socket;
    this.#sendTogether = writesTogether(socket);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => {
      // With TLS 1.3 the server checks the client's certificate after the
      // client thinks the handshake done: its refusal comes as the first read.
      const tlsFailure = describeTlsError(error, server);
      this.#fail(
        tlsFailure === undefined
          ? new ConnectionError(ClientFailure.CONNECTION_LOST, `connection to the server failed: ${error.message}`, { cause: error })
          : new ConnectionError(tlsFailure.code, tlsFailure.message, { cause: error }),
      );
    });
    socket.on('close', () => this.#fail(new ConnectionError(ClientFailure.CONNECTION_LOST, 'the server closed the connection')));
  }

  /**
   * Connects over TLS when `tls` is given (see client-tls.ts), else in
   * plaintext. The server must take the connection within `timeoutMs`; over
   * TLS the handshake must then be done within `handshakeTimeoutMs` of the
   * start, as a busy server may keep the connection in line for a turn.
   * Whichever way the attempt ends, its clocks end with it: a clock left
   * running would keep the program alive after its work is done, up to
   * `handshakeTimeoutMs` after a connection that was never taken. `lookup`
   * resolves the host (dns.lookup by default).
   */
  static connect(
    host: string,
    port: number,
    timeoutMs = 5000,
    tlsFiles?: ClientTlsFiles,
    handshakeTimeoutMs = TLS_HANDSHAKE_WAIT_MS,
    lookup?: net.LookupFunction,
  ): Promise<ServerConnection> {
    return new Promise((resolve, reject) => {
      const server = `${host}:${port}`;
      const options = lookup === undefined ? {} : { lookup };
      const socket =
        tlsFiles === undefined
          ? net.connect({ host, port, ...options })
          : loadTls().connect({ ...clientTlsOptions(host, port, tlsFiles), ...options });
      const stopClocks = () => {
        clearTimeout(timer);
        clearTimeout(handshakeTimer);
      };
      const giveUp = (message: string) => {
        stopClocks();
        socket.destroy();
        reject(new ConnectionError(ClientFailure.CONNECT_TIMEOUT, message));
      };
      const timer = setTimeout(() => giveUp(`no answer from ${host}:${port} within ${timeoutMs / 1000} s`), timeoutMs);
      const handshakeTimer =
        tlsFiles === undefined
          ? undefined
          : setTimeout(
              () =>
                giveUp(
                  `no TLS handshake with ${host}:${port} within ${handshakeTimeoutMs / 1000} s of connecting (is the server overloaded, or not the lottery's?)`,
                ),
              handshakeTimeoutMs,
            );
      // Over TLS the server has answered once it takes the connection: from then on it is waited for in line.
      if (tlsFiles !== undefined) socket.once('connect', () => clearTimeout(timer));
      socket.once('error', (error) => {
        stopClocks();
        const tlsFailure = describeTlsError(error, server);
        if (tlsFailure !== undefined) return reject(new ConnectionError(tlsFailure.code, tlsFailure.message, { cause: error }));
        if ((error as NodeJS.ErrnoException).code === 'ENOTFOUND') {
          return reject(
            new ConnectionError(ClientFailure.HOST_NOT_FOUND, `the server's host name ${host} does not resolve (DNS: no such host)`, {
              cause: error,
            }),
          );
        }
        reject(
          new ConnectionError(ClientFailure.CONNECT_FAILED, `cannot reach the server at ${server}: ${describe(error)}`, { cause: error }),
        );
      });
      socket.once(tlsFiles === undefined ? 'connect' : 'secureConnect', () => {
        stopClocks();
        socket.removeAllListeners('error');
        resolve(new ServerConnection(socket, server));
      });
    });
  }

  /** Sends one message; resolves once the socket can take more. */
  send(message: Message): Promise<void> {
    return this.sendFrame(encodeMessage(message));
  }

  /** Sends one frame already encoded; resolves once the socket can take more. */
  async sendFrame(frame: Uint8Array): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    this.#sendTogether();
    if (!this.#socket.write(frame)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          this.#socket.off('close', onClose);
          resolve();
        };
        const onClose = () => {
          this.#socket.off('drain', onDrain);
          reject(this.#failure ?? new ConnectionError(ClientFailure.CONNECTION_LOST, 'the server closed the connection'));
        };
        this.#socket.once('drain', onDrain);
        this.#socket.once('close', onClose);
      });
    }
  }

  /** The next message from the server; rejects if the connection fails first or `timeoutMs` passes. */
  receive(timeoutMs?: number): Promise<Message> {
    const queued = this.#inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.#waiter = undefined;
          reject(new ConnectionError(ClientFailure.TIMEOUT, `no answer from the server within ${timeoutMs / 1000} s`));
        }, timeoutMs);
      }
      this.#waiter = {
        resolve: (message) => {
          clearTimeout(timer);
          resolve(message);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  close(): void {
    this.#socket.end();
    this.#socket.destroySoon();
    setTimeout(() => this.#socket.destroy(), 1000).unref();
  }

  #receive(chunk: Buffer): void {
    try {
      for (const frame of this.#decoder.push(chunk)) this.#deliver(decodeMessage(frame));
    } catch (error) {
      this.#fail(
        new ConnectionError(ClientFailure.BAD_REPLY, `the server sent something that is not this protocol: ${(error as Error).message}`),
      );
      this.#socket.destroy();
    }
  }

  #deliver(message: Message): void {
    if (message.type === 'ERROR' && message.offset === undefined) {
      this.#closingError ??= new ConnectionError(message.code, `the server answered ${message.code}: ${message.message}`);
    }
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter.resolve(message);
    } else {
      this.#inbox.push(message);
    }
  }

  #fail(error: ConnectionError): void {
    this.#failure ??= this.#closingError ?? error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(this.#failure);
  }
}

/**
 * An error's message. When Node tried several addresses (localhost can be
 * 127.0.0.1 and ::1), the AggregateError it gives has none: its errors say it.
 */
function describe(error: Error): string {
  if (error instanceof AggregateError && error.message === '') return error.errors.map((inner: Error) => inner.message).join('; ');
  return error.message;
}
