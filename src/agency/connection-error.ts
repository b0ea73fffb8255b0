// Why talking to the server failed, as an agency and lottery-ping see it.
// Runs on the client programs' main thread.
import type { TlsFailure } from '../transport/client-tls.ts';
import { CodedError, type ErrorCode } from '../wire/errors.ts';

/** Failures the client finds itself, before or without an answer from the server. */
export const ClientFailure = {
  /** The server could not be reached: refused, no route, no such host. */
  CONNECT_FAILED: 'CONNECT_FAILED',
  /** The TCP connection was not made within the connect timeout. */
  CONNECT_TIMEOUT: 'CONNECT_TIMEOUT',
  /** An open connection ended or failed. */
  CONNECTION_LOST: 'CONNECTION_LOST',
  /** The server did not answer within the time the client waits for it. */
  TIMEOUT: 'TIMEOUT',
  /** The server sent bytes that are not this protocol. */
  BAD_REPLY: 'BAD_REPLY',
} as const;
export type ClientFailure = (typeof ClientFailure)[keyof typeof ClientFailure];

/**
 * The code of a ConnectionError: a failure the client found (ClientFailure,
 * or a TlsFailure), or the code of the ERROR the server answered. A server
 * may answer a code this client does not know, hence `string` too; compare
 * with the named constants.
 */
export type ConnectionErrorCode = ClientFailure | TlsFailure | ErrorCode | (string & {});

/**
 * Talking to the server failed: refused, reset, timed out, or it answered
 * ERROR (then `code` is that ERROR's code).
 */
export class ConnectionError extends CodedError<ConnectionErrorCode> {
  override name = 'ConnectionError';
}
