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
// A worker runs only so many handshakes at once (handshake-gate.ts). A
// connection asks for a turn only once its whole first TLS record (the
// ClientHello) is in, within the handshake timeout: one that sends a byte
// and stalls never holds a turn. Then it waits in line, at most the queue
// timeout, and the handshake timeout stops counting meanwhile: a client
// that has sent its ClientHello has done its part, and told to come back
// after its deadline ran out in line it would cost the server a new
// connection, ClientHello and refusal, and go to the back of the line. What
// the waiting connections hold is bounded by MAX_BYTES_WAITING a worker
// (and their number by --max-connections); one still waiting at the queue
// timeout, or one whose bytes would take the worker's waiting connections
// past that bound, is refused for load in a way its TLS library reads
// (load-refusal.ts), and the agency tries again later. Once its turn comes,
// the handshake and HELLO have what the connection has left of the
// handshake timeout: a turn is held at most that long.

import type { Socket } from 'node:net';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { loadTls } from './tls-module.ts';
import { encodeMessage } from '../wire/codec.ts';
import { MAGIC } from '../wire/frame.ts';
import { identityFromCommonName, type Identity } from '../pki/identity.ts';
import { HandshakeGate, HandshakeOutcome, type Release } from './handshake-gate.ts';
import { TLS_BUSY_ALERT, TLS_HANDSHAKE_RECORD } from './load-refusal.ts';
import { CLOSED_UNSPOKEN, CodedError, ConnectionRefused, ErrorCode, GateClosed } from '../errors.ts';

export type ServerTlsFiles = { ca: string; cert: string; key: string; crl?: string };

/**
 * A connection ready for a Session: the stream, who its certificate says it
 * is (TLS only), and how much of the handshake timeout it has used (its wait
 * for a handshake turn not counted).
 */
export type AcceptedConnection = { stream: Socket; identity: Identity | undefined; spentMs: number };

/**
 * The handshake timeout; how long a whole ClientHello may wait for a
 * handshake turn (TLS only; that wait does not count against the handshake
 * timeout); and the signal that the worker is stopping.
 */
export type AcceptLimits = { timeoutMs: number; queueTimeoutMs: number; stopped: AbortSignal };

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

/**
 * `maxHandshakes`: TLS handshakes run at once (see handshake-gate.ts);
 * `maxBytesWaiting`: what the connections waiting for a turn may hold together.
 */
export function tlsTransport(files: ServerTlsFiles, maxHandshakes: number, maxBytesWaiting = MAX_BYTES_WAITING): ServerTransport {
  const server = loadTls().createServer(serverTlsOptions(files));
  const gate = new HandshakeGate(maxHandshakes);
  const waiting = { bytes: 0, limit: maxBytesWaiting };
  // The TLS sockets this server makes, by the peer address of the socket handed in.
  const handshaking = new Map<string, { resolve: (socket: TLSSocket) => void; reject: (error: Error) => void }>();
  const key = (socket: Socket) => `${socket.remoteAddress}:${socket.remotePort}`;
  server.on('secureConnection', (socket: TLSSocket) => {
    const pending = handshaking.get(key(socket));
    if (pending === undefined) return void socket.destroy();
    pending.resolve(socket);
  });
  server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    handshaking.get(key(socket))?.reject(new ConnectionRefused(ErrorCode.TLS_HANDSHAKE, handshakeFailure(error)));
  });
  return {
    secure: true,
    async accept(socket, { timeoutMs, queueTimeoutMs, stopped }) {
      const started = performance.now();
      // The first bytes and the whole ClientHello within the handshake timeout.
      const beforeTurn = withTimeout(stopped, timeoutMs);
      const first = await firstChunk(socket, beforeTurn);
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
      const { release, waitedMs } = await waitForTurn(gate, socket, first, { stopped, beforeTurn, queueTimeoutMs, waiting });
      // The handshake has what is left of the handshake timeout, the wait in line not counted.
      const deadline = withTimeout(stopped, timeoutMs - (performance.now() - started - waitedMs));
      const id = key(socket);
      const { promise, resolve, reject } = Promise.withResolvers<TLSSocket>();
      handshaking.set(id, { resolve, reject });
      const onAbort = () => reject(new ConnectionRefused(ErrorCode.TIMEOUT, `no TLS handshake within the handshake timeout`));
      if (deadline.aborted) onAbort();
      deadline.addEventListener('abort', onAbort, { once: true });
      const onClose = () =>
        reject(new ConnectionRefused(ErrorCode.TLS_HANDSHAKE, 'the client closed the connection during the TLS handshake'));
      socket.once('close', onClose);
      server.emit('connection', socket);
      let secured: TLSSocket;
      try {
        secured = await promise;
      } catch (error) {
        release(HandshakeOutcome.FAILED);
        socket.destroy();
        throw error;
      } finally {
        handshaking.delete(id);
        deadline.removeEventListener('abort', onAbort);
        socket.off('close', onClose);
      }
      // A client refused for its certificate counts as a failed handshake for its address, as a stalled one does.
      release(secured.authorized ? HandshakeOutcome.COMPLETED : HandshakeOutcome.FAILED);
      const spentMs = performance.now() - started - waitedMs;
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
        // Told why, as for a certificate that does not verify: an agency given the wrong file stops at once and says so.
        const reason = `the client certificate's name ${JSON.stringify(commonName)} is neither agency-K (K from 1, no leading zero) nor monitor`;
        secured.on('error', () => undefined);
        secured.end(
          encodeMessage({ type: 'ERROR', code: ErrorCode.UNAUTHORIZED, message: `this server refused the client certificate: ${reason}` }),
        );
        setTimeout(() => secured.destroy(), 1000).unref();
        throw new ConnectionRefused(ErrorCode.UNAUTHORIZED, reason);
      }
      return { stream: secured, identity, spentMs };
    },
  };
}

/** What one client may send before its handshake starts: a ClientHello, whatever TCP segments it comes in. */
const MAX_BYTES_BEFORE_TURN = 64 * 1024;

/**
 * What all the connections waiting for a turn on one worker may hold at
 * once: a real ClientHello is 2 KiB or less, so this is thousands of
 * honest ones, and a flood of big ones costs at most this much.
 */
export const MAX_BYTES_WAITING = 8 * 1024 * 1024;

/** The TLS record header: type, version, length. */
const RECORD_HEADER_BYTES = 5;

type TurnLimits = {
  stopped: AbortSignal;
  /** Aborts when the handshake timeout runs out: the whole ClientHello must be in by then. */
  beforeTurn: AbortSignal;
  /** How long a whole ClientHello may then wait for a turn. */
  queueTimeoutMs: number;
  waiting: { bytes: number; readonly limit: number };
};

/**
 * Waits for the whole first TLS record within the handshake timeout, then
 * for a handshake turn within the queue timeout; resolves with the turn and
 * how long the connection waited in line. Meanwhile the socket is read, so
 * that a client that gives up waiting (its connect timeout) is dropped at
 * once rather than given a turn and a handshake; what it sent is put back
 * for the handshake.
 */
async function waitForTurn(
  gate: HandshakeGate,
  socket: Socket,
  first: Buffer,
  { stopped, beforeTurn, queueTimeoutMs, waiting }: TurnLimits,
): Promise<{ release: Release; waitedMs: number }> {
  const received = [first];
  let bytes = first.length;
  waiting.bytes += bytes;
  let ended: 'left' | 'too much' | 'over budget' | undefined;
  const gone = new AbortController();
  const end = (why: NonNullable<typeof ended>) => {
    ended ??= why;
    gone.abort();
  };
  const wholeRecord = Promise.withResolvers<void>();
  let whole = false;
  const checkWhole = () => {
    if (bytes < RECORD_HEADER_BYTES) return;
    const head = received[0].length >= RECORD_HEADER_BYTES ? received[0] : Buffer.concat(received);
    if (bytes < RECORD_HEADER_BYTES + head.readUInt16BE(3)) return;
    whole = true;
    wholeRecord.resolve();
  };
  const onReadable = () => {
    for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null;) {
      received.push(chunk);
      bytes += chunk.length;
      waiting.bytes += chunk.length;
    }
    if (bytes > MAX_BYTES_BEFORE_TURN) end('too much');
    else if (waiting.bytes > waiting.limit) end('over budget');
    else checkWhole();
  };
  const onGone = () => end('left');
  socket.on('readable', onReadable);
  socket.once('end', onGone);
  socket.once('close', onGone);
  let release: Release | undefined;
  try {
    if (waiting.bytes > waiting.limit) end('over budget');
    checkWhole();
    await untilAborted(wholeRecord.promise, AbortSignal.any([beforeTurn, gone.signal]));
    const queued = performance.now();
    release = await gate.enter(socket.remoteAddress ?? '', AbortSignal.any([withTimeout(stopped, queueTimeoutMs), gone.signal]));
    return { release, waitedMs: performance.now() - queued };
  } catch (error) {
    if (!(error instanceof GateClosed)) throw error;
    if (stopped.aborted) {
      socket.destroy();
      throw new ConnectionRefused(CLOSED_UNSPOKEN, 'the server stopped before its TLS handshake');
    }
    if (ended === 'too much') {
      socket.destroy();
      throw new ConnectionRefused(ErrorCode.TLS_HANDSHAKE, `more than ${MAX_BYTES_BEFORE_TURN} bytes before the TLS handshake began`);
    }
    if (ended === 'left') {
      socket.destroy();
      throw new ConnectionRefused(
        ErrorCode.TLS_HANDSHAKE,
        'the client left while it waited for a TLS handshake turn (the server was busy with others)',
      );
    }
    if (ended === undefined && !whole) {
      socket.destroy();
      throw new ConnectionRefused(ErrorCode.TIMEOUT, 'no whole ClientHello within the handshake timeout');
    }
    refuseForLoad(socket);
    throw new ConnectionRefused(
      ErrorCode.TOO_MANY_CONNECTIONS,
      ended === 'over budget'
        ? `the connections waiting for a TLS handshake turn hold more than ${waiting.limit} bytes: told to try again later`
        : `no TLS handshake turn within the queue timeout of ${queueTimeoutMs / 1000} s (the server was busy with others): told to try again later`,
    );
  } finally {
    waiting.bytes -= bytes;
    socket.off('readable', onReadable);
    socket.off('end', onGone);
    socket.off('close', onGone);
    if (release !== undefined) socket.unshift(received.length === 1 ? first : Buffer.concat(received));
  }
}

/** Resolves with `promise`, or rejects with GateClosed once `signal` aborts. */
function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new GateClosed('stopped before its turn'));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new GateClosed('stopped before its turn'));
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/** Ends a connection that sent a TLS record with the alert a TLS client reads as "busy, try again" (load-refusal.ts). */
function refuseForLoad(socket: Socket): void {
  socket.on('error', () => undefined);
  socket.end(TLS_BUSY_ALERT);
  setTimeout(() => socket.destroy(), 1000).unref();
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
