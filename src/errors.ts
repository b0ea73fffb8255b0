// Every way the programs can fail, on one page. Each error class has a
// stable `code`: what goes into an ERROR frame and into the `result: fail`
// log line (so an operator can match what an agency saw with what the server
// logged), or what a caller decides on. Messages are for people; codes are
// for programs, and never change meaning.
//
// A leaf module: it imports nothing of the project's, so every layer (the
// wire included) may import it.

/** The codes an ERROR frame can carry: the server's refusals, as the agency is told them. */
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
  /** Sales are closed (at the time the message names): no bet or FINISH is taken from an agency that had not finished. */
  SALES_CLOSED: 'SALES_CLOSED',
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

/** Failures a client (an agency, lottery-ping) finds itself, before or without an answer from the server. */
export const ClientFailure = {
  /** The server could not be reached: refused, no route, no such host. */
  CONNECT_FAILED: 'CONNECT_FAILED',
  /** The server's host name does not resolve (DNS): retried, as a name may come up, but reported as such. */
  HOST_NOT_FOUND: 'HOST_NOT_FOUND',
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

/** How a client's TLS handshake failed, in words its user can act on. */
export const TlsFailure = {
  /** The server's certificate does not verify: another CA, expired, or not for this host name. */
  SERVER_UNTRUSTED: 'TLS_SERVER_UNTRUSTED',
  /** The server refused this client's certificate (or its lack of one). */
  CLIENT_REFUSED: 'TLS_CLIENT_REFUSED',
  /** The other end does not speak TLS: a plaintext server. */
  NOT_TLS: 'TLS_NOT_SPOKEN',
} as const;
export type TlsFailure = (typeof TlsFailure)[keyof typeof TlsFailure];

/** A connection the server dropped before any Session saw it, not worth a log line: the client closed without a byte (a port probe). */
export const CLOSED_UNSPOKEN = 'CLOSED';

/** The codes of the errors that never leave the process: what failed, for the caller and the log. */
export const LocalFailure = {
  /** The Store can no longer trust its files while running: the server must restart into recovery. */
  STORE_FAILED: 'STORE_FAILED',
  /** The Store's database cannot be reached or refused a commit: nothing of it was acknowledged; the agency tries again. */
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  /** What is on disk contradicts what was acknowledged: the Store does not start. */
  STORE_RECOVERY: 'STORE_RECOVERY',
  /** A journal line fails its check where no interrupted write can explain it. */
  JOURNAL_CORRUPT: 'JOURNAL_CORRUPT',
  /** Another server holds the data dir. */
  DATA_DIR_LOCKED: 'DATA_DIR_LOCKED',
  /** The actor on the other side of a port is gone: its thread exited. */
  ACTOR_GONE: 'ACTOR_GONE',
  /** The handshake gate closed while a connection waited for its turn: the worker is stopping. */
  GATE_CLOSED: 'GATE_CLOSED',
  /** A program must stop at start: a bad flag, variable or config file, or --help and --version. */
  CONFIG: 'CONFIG',
  /** A mistake on the command line: an unknown flag, a flag without its value, a stray argument. */
  COMMAND_LINE: 'COMMAND_LINE',
  /** A config file that cannot be read or parsed. */
  CONFIG_FILE: 'CONFIG_FILE',
  /** lottery-pki cannot make or revoke what it was asked. */
  PKI: 'PKI',
  /** An agency's bets file cannot be read. */
  DATA_FILE: 'DATA_FILE',
  /** An agency's bets file is not CSV at some line. */
  CSV_SYNTAX: 'CSV_SYNTAX',
  /** An agency cannot go on: what it holds contradicts what the server says. */
  AGENCY: 'AGENCY',
} as const;
export type LocalFailure = (typeof LocalFailure)[keyof typeof LocalFailure];

/** An error with a stable code, for an ERROR frame, a log line or the caller's decision. */
export class CodedError<Code extends string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * The base of an error that is its code and a message, nothing more: each
 * such class below is one line, named and coded here.
 */
function ErrorOf<const Code extends LocalFailure>(code: Code, name: string) {
  return class extends CodedError<Code> {
    override name = name;
    constructor(message: string, options?: ErrorOptions) {
      super(code, message, options);
    }
  };
}

// ---- The protocol: what the server answers with ERROR ----

/** The peer broke the protocol: answer ERROR, with this code, if possible and close. */
export class ProtocolError extends CodedError<ErrorCode> {
  override name = 'ProtocolError';
}

/** A bet that fails validation: `field` is the one at fault. The batch that holds it is refused with INVALID_BET. */
export class InvalidBetError extends CodedError<typeof ErrorCode.INVALID_BET> {
  override name = 'InvalidBetError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(ErrorCode.INVALID_BET, message);
    this.field = field;
  }
}

/** Why a connection was refused before any Session saw it: a log line's code and message. */
export class ConnectionRefused extends CodedError<ErrorCode | typeof CLOSED_UNSPOKEN> {
  override name = 'ConnectionRefused';
}

// ---- The clients ----

/**
 * The code of a ConnectionError: a failure the client found (ClientFailure,
 * or a TlsFailure), or the code of the ERROR the server answered. A server
 * may answer a code this client does not know, hence `string` too; compare
 * with the named constants.
 */
export type ConnectionErrorCode = ClientFailure | TlsFailure | ErrorCode | (string & {});

/** Talking to the server failed: refused, reset, timed out, or it answered ERROR (then `code` is that ERROR's code). */
export class ConnectionError extends CodedError<ConnectionErrorCode> {
  override name = 'ConnectionError';
}

/** An agency cannot go on: what it holds contradicts what the server says. */
export class AgencyError extends ErrorOf(LocalFailure.AGENCY, 'AgencyError') {}

/** An agency's bets file cannot be read: one line that says why. */
export class DataFileError extends ErrorOf(LocalFailure.DATA_FILE, 'DataFileError') {}

/** An agency's bets file is not CSV at `line`; every row before it has been read. */
export class CsvSyntaxError extends CodedError<typeof LocalFailure.CSV_SYNTAX> {
  override name = 'CsvSyntaxError';
  readonly line: number;
  constructor(line: number, reason: string) {
    super(LocalFailure.CSV_SYNTAX, `line ${line}: ${reason}`);
    this.line = line;
  }
}

// ---- The server's threads and storage ----

/** The Store failed in a way it cannot recover from while running: the server must restart into recovery. */
export class StoreFailedError extends ErrorOf(LocalFailure.STORE_FAILED, 'StoreFailedError') {}

/** A group commit or draw the database did not take; its cause stays in the server's log, not in the agency's ERROR. */
export class StoreUnavailableError extends CodedError<typeof LocalFailure.STORE_UNAVAILABLE> {
  override name = 'StoreUnavailableError';
  constructor(options?: ErrorOptions) {
    super(LocalFailure.STORE_UNAVAILABLE, "the lottery's database did not take this: nothing of it was stored; try again shortly", options);
  }
}

/** The Store cannot start: what is on disk contradicts what was acknowledged. */
export class StoreRecoveryError extends ErrorOf(LocalFailure.STORE_RECOVERY, 'StoreRecoveryError') {}

/**
 * What the data dir holds does not check out against itself (the chain, a
 * FINISH's digest, the draw): `message` names the first place that differs.
 * Recovery refuses to start on it; lottery-verify reports it.
 */
export class StoredDataError extends CodedError<typeof LocalFailure.STORE_RECOVERY> {
  override name = 'StoredDataError';
  constructor(message: string, options?: ErrorOptions) {
    super(LocalFailure.STORE_RECOVERY, message, options);
  }
}

/** The journal is damaged where no interrupted write can explain it. */
export class JournalCorruptError extends ErrorOf(LocalFailure.JOURNAL_CORRUPT, 'JournalCorruptError') {}

/** Who holds a data dir's lock. */
export type LockHolder = { pid: number; host: string; startedAt: string };

/** Another server holds the data dir; `holder` says which, when it could be read. */
export class DataDirLockedError extends CodedError<typeof LocalFailure.DATA_DIR_LOCKED> {
  override name = 'DataDirLockedError';
  readonly holder: LockHolder | undefined;
  constructor(message: string, holder: LockHolder | undefined) {
    super(LocalFailure.DATA_DIR_LOCKED, message);
    this.holder = holder;
  }
}

/** The actor on the other side of a port is gone: its thread exited. */
export class ActorGoneError extends ErrorOf(LocalFailure.ACTOR_GONE, 'ActorGoneError') {}

/** The handshake gate closed while a connection waited for its turn. */
export class GateClosed extends CodedError<typeof LocalFailure.GATE_CLOSED> {
  override name = 'GateClosed';
  constructor(message = 'the handshake gate is closed') {
    super(LocalFailure.GATE_CLOSED, message);
  }
}

// ---- The programs' start ----

/** The program must stop: print `message` and exit with `exitCode` (2 for a usage error, 0 for --help). */
export class ConfigExit extends CodedError<typeof LocalFailure.CONFIG> {
  override name = 'ConfigExit';
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(LocalFailure.CONFIG, message);
    this.exitCode = exitCode;
  }
}

/** A mistake on the command line, said in one line. */
export class CommandLineError extends ErrorOf(LocalFailure.COMMAND_LINE, 'CommandLineError') {}

/** A config file that cannot be read or parsed: one line that names it. */
export class ConfigFileError extends ErrorOf(LocalFailure.CONFIG_FILE, 'ConfigFileError') {}

/** lottery-pki cannot make or revoke what it was asked: one line that says why. */
export class PkiError extends ErrorOf(LocalFailure.PKI, 'PkiError') {}
