// The errors that can end up on the wire. Each has a stable `code`: the same
// string goes into the ERROR frame and into the `result: fail` log line, so an
// operator can match what an agency saw with what the server logged.

export const ErrorCode = {
  /** The bytes are not a frame of this protocol: magic, version, type or length. */
  BAD_FRAME: 'BAD_FRAME',
  /** A frame whose payload is not msgpack or not the shape its type requires. */
  BAD_MESSAGE: 'BAD_MESSAGE',
  /** A well-formed message that makes no sense now (BETS before HELLO, ...). */
  UNEXPECTED_MESSAGE: 'UNEXPECTED_MESSAGE',
  UNKNOWN_AGENCY: 'UNKNOWN_AGENCY',
  INVALID_BET: 'INVALID_BET',
  OFFSET_GAP: 'OFFSET_GAP',
  TOTAL_MISMATCH: 'TOTAL_MISMATCH',
  /** FINISH's digest is not that of the rows the server stored: it does not hold exactly the agency's rows. */
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  AGENCY_FINISHED: 'AGENCY_FINISHED',
  DRAW_DONE: 'DRAW_DONE',
  TIMEOUT: 'TIMEOUT',
  TOO_MANY_CONNECTIONS: 'TOO_MANY_CONNECTIONS',
  REPLACED: 'REPLACED',
  /** The connection's certificate does not allow what it asked (HELLO for another agency, the monitor saying HELLO). */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** A plaintext client on a server that accepts only TLS. */
  TLS_REQUIRED: 'TLS_REQUIRED',
  /** A TLS client on a plaintext server: its TLS library cannot read this ERROR, but reports it as "not TLS". */
  TLS_NOT_ENABLED: 'TLS_NOT_ENABLED',
  /** Logged only: the TLS handshake failed (no certificate, another CA, expired, revoked...). */
  TLS_HANDSHAKE: 'TLS_HANDSHAKE',
  SERVER_STOPPING: 'SERVER_STOPPING',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error with a stable code, for an ERROR frame, a log line or the caller's decision. */
export class CodedError<Code extends string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** The peer broke the protocol: answer ERROR, with this code, if possible and close. */
export class ProtocolError extends CodedError<ErrorCode> {
  override name = 'ProtocolError';
}
