// How a session worker turns an accepted TCP socket into the stream a
// Session speaks the protocol over: the socket itself (plaintext), or a TLS
// 1.3 stream whose client certificate has been verified against the
// lottery's CA (mutual TLS). Either way the first bytes are looked at before
// anything else: a TLS ClientHello on a plaintext port, or this protocol's
// magic on a TLS port, means the two ends are set up differently, and both
// the log and the peer are told so instead of decoding one as the other.
//
// The handshake runs here, on the worker, not on the Acceptor: a tls.Server
// that never listens is handed each socket with emit('connection'). The
// client certificate is checked right after the handshake, before a single
// frame is read: Node's own rejectUnauthorized would do the same check but
// close the connection without a word, leaving the agency to guess (and to
// retry); here the refusal is logged with its reason and the client is
// told it in an ERROR frame over the TLS connection it has just opened.
//
// A worker runs only so many handshakes at once (handshake-gate.ts); a
// connection that has sent its ClientHello and waits for a turn waits on
// the server, not the other way round, so that wait does not count against
// the handshake timeout.

import type { Socket } from 'node:net';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { loadTls } from './tls-module.ts';
import { encodeMessage } from '../wire/codec.ts';
import { MAGIC } from '../wire/frame.ts';
import { identityFromCommonName, type Identity } from '../pki/identity.ts';
import { HandshakeGate, type Release } from './handshake-gate.ts';
import { CLOSED_UNSPOKEN, CodedError, ConnectionRefused, ErrorCode, GateClosed } from '../errors.ts';

/** The first byte of a TLS handshake record, as every ClientHello starts. */
const TLS_HANDSHAKE_RECORD = 0x16;

export type ServerTlsFiles = { ca: string; cert: string; key: string; crl?: string };

/**
 * A connection ready for a Session: the stream, who its certificate says it
 * is (TLS only), and how much of the handshake timeout it has used.
 */
export type AcceptedConnection = { stream: Socket; identity: Identity | undefined; spentMs: number };

/** The handshake timeout, and the signal that the worker is stopping. */
export type AcceptLimits = { timeoutMs: number; stopped: AbortSignal };

export interface ServerTransport {
  readonly secure: boolean;
  /** Resolves with the stream to speak over, or rejects with ConnectionRefused (the socket is then closed). */
  accept(socket: Socket, limits: AcceptLimits): Promise<AcceptedConnection>;
}

/** The TLS server options every session worker uses; also checked once at start-up. */
export function serverTlsOptions(files: ServerTlsFiles): TlsOptions {
  return {
    ca: files.ca,
    cert: files.cert,
    key: files.key,
    ...(files.crl === undefined ? {} : { crl: files.crl }),
    requestCert: true,
    // Checked in accept() below, with a reason for the log and the client; never skipped.
    rejectUnauthorized: false,
    minVersion: 'TLSv1.3',
  };
}

export const plaintextTransport: ServerTransport = {
  secure: false,
  async accept(socket, { timeoutMs, stopped }) {
    const started = performance.now();
    const first = await firstChunk(socket, withTimeout(stopped, timeoutMs));
    // Silent until the deadline: the Session answers TIMEOUT, as to any client that says nothing.
    if (first === undefined) return { stream: socket, identity: undefined, spentMs: timeoutMs };
    if (first[0] === TLS_HANDSHAKE_RECORD) {
      // The client's TLS library cannot read this frame, but reads it as "not TLS", which is the point.
      socket.end(encodeMessage({ type: 'ERROR', code: ErrorCode.TLS_NOT_ENABLED, message: 'this server was started without TLS' }));
      setTimeout(() => socket.destroy(), 1000).unref();
      throw new ConnectionRefused(
        ErrorCode.TLS_NOT_ENABLED,
        'a TLS ClientHello on this plaintext server: the client uses TLS, this server was started without --tls-cert',
      );
    }
    socket.unshift(first);
    return { stream: socket, identity: undefined, spentMs: performance.now() - started };
  },
};

/** `maxHandshakes`: TLS handshakes run at once (see handshake-gate.ts). */
export function tlsTransport(files: ServerTlsFiles, maxHandshakes: number): ServerTransport {
  const server = loadTls().createServer(serverTlsOptions(files));
  const gate = new HandshakeGate(maxHandshakes);
  // The TLS sockets this server makes, by the peer address of the socket handed in.
  const waiting = new Map<string, { resolve: (socket: TLSSocket) => void; reject: (error: Error) => void }>();
  const key = (socket: Socket) => `${socket.remoteAddress}:${socket.remotePort}`;
  server.on('secureConnection', (socket: TLSSocket) => {
    const pending = waiting.get(key(socket));
    if (pending === undefined) return void socket.destroy();
    pending.resolve(socket);
  });
  server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    waiting.get(key(socket))?.reject(new ConnectionRefused(ErrorCode.TLS_HANDSHAKE, handshakeFailure(error)));
  });
  return {
    secure: true,
    async accept(socket, { timeoutMs, stopped }) {
      const started = performance.now();
      const first = await firstChunk(socket, withTimeout(stopped, timeoutMs));
      if (first === undefined) {
        socket.destroy();
        throw new ConnectionRefused(ErrorCode.TIMEOUT, 'nothing sent within the handshake timeout');
      }
      if (first[0] !== TLS_HANDSHAKE_RECORD) {
        const plaintext = first.length >= 2 && first.readUInt16BE(0) === MAGIC;
        if (plaintext) {
          socket.on('error', () => undefined);
          socket.end(
            encodeMessage({
              type: 'ERROR',
              code: ErrorCode.TLS_REQUIRED,
              message: 'this server accepts only TLS with a client certificate: give the client --tls-ca, --tls-cert and --tls-key',
            }),
          );
          setTimeout(() => socket.destroy(), 1000).unref();
        } else {
          socket.destroy();
        }
        throw new ConnectionRefused(
          ErrorCode.TLS_REQUIRED,
          plaintext
            ? 'a plaintext client on this TLS server: it was told to use TLS'
            : `the first byte 0x${first[0].toString(16).padStart(2, '0')} starts neither TLS nor this protocol`,
        );
      }
      const queued = performance.now();
      const release = await waitForTurn(gate, socket, first, stopped);
      const spentBeforeTurn = queued - started;
      const turn = performance.now();
      const signal = withTimeout(stopped, timeoutMs - spentBeforeTurn);
      const id = key(socket);
      const { promise, resolve, reject } = Promise.withResolvers<TLSSocket>();
      waiting.set(id, { resolve, reject });
      const onAbort = () => reject(new ConnectionRefused(ErrorCode.TIMEOUT, `no TLS handshake within the handshake timeout`));
      signal.addEventListener('abort', onAbort, { once: true });
      const onClose = () =>
        reject(new ConnectionRefused(ErrorCode.TLS_HANDSHAKE, 'the client closed the connection during the TLS handshake'));
      socket.once('close', onClose);
      server.emit('connection', socket);
      let secured: TLSSocket;
      try {
        secured = await promise;
      } catch (error) {
        socket.destroy();
        throw error;
      } finally {
        release();
        waiting.delete(id);
        signal.removeEventListener('abort', onAbort);
        socket.off('close', onClose);
      }
      const spentMs = spentBeforeTurn + (performance.now() - turn);
      if (!secured.authorized) {
        const reason = unauthorizedCertificate(secured);
        secured.on('error', () => undefined);
        secured.end(
          encodeMessage({ type: 'ERROR', code: ErrorCode.UNAUTHORIZED, message: `this server refused the client certificate: ${reason}` }),
        );
        setTimeout(() => secured.destroy(), 1000).unref();
        throw new ConnectionRefused(ErrorCode.TLS_HANDSHAKE, reason);
      }
      const commonName = secured.getPeerCertificate().subject?.CN;
      const identity = identityFromCommonName(typeof commonName === 'string' ? commonName : undefined);
      if (identity === undefined) {
        secured.destroy();
        throw new ConnectionRefused(
          ErrorCode.UNAUTHORIZED,
          `the client certificate's name ${JSON.stringify(commonName)} is neither agency-K nor monitor`,
        );
      }
      return { stream: secured, identity, spentMs };
    },
  };
}

/** What a client may send before its handshake starts: a ClientHello, whatever TCP segments it comes in. */
const MAX_BYTES_BEFORE_TURN = 64 * 1024;

/**
 * Waits for a handshake turn. Meanwhile the socket is read, so that a client
 * that gives up waiting (its connect timeout) is dropped at once rather than
 * given a turn and a handshake; what it sent is put back for the handshake.
 */
async function waitForTurn(gate: HandshakeGate, socket: Socket, first: Buffer, stopped: AbortSignal): Promise<Release> {
  const received = [first];
  let bytes = first.length;
  const gone = new AbortController();
  const onReadable = () => {
    for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null;) {
      received.push(chunk);
      bytes += chunk.length;
    }
    if (bytes > MAX_BYTES_BEFORE_TURN) gone.abort();
  };
  const onGone = () => gone.abort();
  socket.on('readable', onReadable);
  socket.once('end', onGone);
  socket.once('close', onGone);
  try {
    return await gate.enter(socket.remoteAddress ?? '', AbortSignal.any([stopped, gone.signal]));
  } catch (error) {
    if (!(error instanceof GateClosed)) throw error;
    socket.destroy();
    if (stopped.aborted) throw new ConnectionRefused(CLOSED_UNSPOKEN, 'the server stopped before its TLS handshake');
    if (bytes > MAX_BYTES_BEFORE_TURN) {
      throw new ConnectionRefused(ErrorCode.TLS_HANDSHAKE, `more than ${MAX_BYTES_BEFORE_TURN} bytes before the TLS handshake began`);
    }
    throw new ConnectionRefused(
      ErrorCode.TLS_HANDSHAKE,
      'the client left while it waited for a TLS handshake turn (the server was busy with others)',
    );
  } finally {
    socket.off('readable', onReadable);
    socket.off('end', onGone);
    socket.off('close', onGone);
    if (!socket.destroyed) socket.unshift(received.length === 1 ? first : Buffer.concat(received));
  }
}

function withTimeout(stopped: AbortSignal, ms: number): AbortSignal {
  return AbortSignal.any([stopped, AbortSignal.timeout(Math.max(0, Math.ceil(ms)))]);
}

/** The first bytes the peer sends, or undefined if the signal aborts first; rejects if the peer closes first. */
function firstChunk(socket: Socket, signal: AbortSignal): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const done = () => {
      socket.off('readable', onReadable);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const onReadable = () => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null) return;
      done();
      resolve(chunk);
    };
    const onClose = () => {
      done();
      reject(new ConnectionRefused(CLOSED_UNSPOKEN, 'the client closed the connection without sending anything'));
    };
    const onAbort = () => {
      done();
      resolve(undefined);
    };
    socket.on('error', () => undefined);
    socket.on('readable', onReadable);
    socket.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Why a client certificate did not verify, as both the log and the client read it. */
function unauthorizedCertificate(socket: TLSSocket): string {
  const certificate = socket.getPeerX509Certificate();
  if (certificate === undefined) return 'no client certificate was sent (give --tls-cert and --tls-key)';
  const name = certificate.subject.replaceAll('\n', ', ');
  const error = String(socket.authorizationError ?? 'unknown');
  const reasons: Record<string, string> = {
    CERT_HAS_EXPIRED: `it expired on ${certificate.validTo}`,
    CERT_NOT_YET_VALID: `it is not valid yet: only from ${certificate.validFrom}`,
    CERT_REVOKED: 'it has been revoked',
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "it was signed by another CA, not this lottery's",
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: "it was signed by another CA, not this lottery's",
    SELF_SIGNED_CERT_IN_CHAIN: "it was signed by another CA, not this lottery's",
    DEPTH_ZERO_SELF_SIGNED_CERT: "it is self-signed, not signed by this lottery's CA",
    INVALID_PURPOSE: 'it is not made for a client',
  };
  return `the certificate ${name}: ${reasons[error] ?? 'it did not verify'} (${error})`;
}

/** A handshake error as an operator reads it: what the client did wrong, then OpenSSL's reason. */
function handshakeFailure(error: Error & { code?: string }): string {
  const reason = /:([^:]+):[^:]*\.c:\d+/.exec(error.message)?.[1] ?? error.message;
  const known: Record<string, string> = {
    ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: 'the client sent no certificate',
    ERR_SSL_CERTIFICATE_VERIFY_FAILED:
      'the client certificate did not verify against the lottery CA (another CA, expired, not yet valid or revoked)',
    ERR_SSL_UNSUPPORTED_PROTOCOL: 'the client does not speak TLS 1.3',
    ERR_SSL_NO_SHARED_CIPHER: 'the client offers no cipher this server accepts',
  };
  return `${known[error.code ?? ''] ?? 'TLS handshake failed'} (${reason})`;
}
