// How the server refuses a connection for load (too many connections, too
// many from one address, no handshake turn in time, too many bytes waiting)
// so that every client can read it and knows to try again later.
//
// A plaintext client reads an ERROR frame. A TLS client cannot: its TLS
// library reads a frame as "this server does not speak TLS", which an agency
// must take as fatal (it is set up wrong). So a connection that began with a
// TLS record is answered with a TLS alert instead, sent in the clear as TLS
// allows before the handshake: `user_canceled` (90), fatal. No TLS server
// sends it otherwise (OpenSSL never does before a handshake), so the client
// can tell "busy, try again" from every other handshake failure.

import { encodeMessage } from '../wire/codec.ts';
import { ErrorCode } from '../errors.ts';

/** The first byte of a TLS handshake record, as every ClientHello starts. */
export const TLS_HANDSHAKE_RECORD = 0x16;

/** A TLS 1.2-framed record (as TLS 1.3 alerts before encryption are): alert, level fatal, user_canceled. */
export const TLS_BUSY_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 90]);

/** What a client that began with `first` can read as "the server is busy". */
export function loadRefusal(first: Buffer | undefined, reason: string): Uint8Array {
  if (first !== undefined && first.length > 0 && first[0] === TLS_HANDSHAKE_RECORD) return TLS_BUSY_ALERT;
  return encodeMessage({ type: 'ERROR', code: ErrorCode.TOO_MANY_CONNECTIONS, message: reason });
}
