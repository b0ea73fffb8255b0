// The message catalogue: every message that crosses the wire, as plain types.
// This module is types only; everything that speaks the protocol imports its
// shapes from here. The numeric codes live in message-type.ts.

/** One bet as it travels: [first_name, last_name, document, birthdate, number]. */
export type WireBet = [firstName: string, lastName: string, document: string, birthdate: string, number: number];

/** `progress`: the agency shows its progress and wants WAITING while the draw is pending. */
export type Hello = { type: 'HELLO'; agency: number; progress?: boolean };
/**
 * Where the agency stands. Once it has finished, `total` and `digest` are
 * what its FINISH was checked against: an agency run again against a
 * finished lottery compares them with its own file.
 */
export type Welcome = {
  type: 'WELCOME';
  offset: number;
  finished: boolean;
  drawn: boolean;
  total?: number;
  digest?: string;
  /** Sales closed at this time (ISO 8601 UTC): no BETS or FINISH is taken from an agency that had not finished, which may ask WINNERS at once. */
  closedAt?: string;
  /** With closedAt: the bets stored for this agency before the close. */
  stored?: number;
};
export type Bets = { type: 'BETS'; offset: number; bets: WireBet[] };
export type Ack = { type: 'ACK'; offset: number };
/**
 * The agency has sent everything. `total`: every offset it used, the bets
 * of refused batches included. `digest`: its upload digest, 64 lowercase hex
 * digits: SHA-256 over the rows the server stored for it, in offset order,
 * each as its canonical line,
 *   <agency>\t<first_name>\t<last_name>\t<document>\t<birthdate>\t<number>\n
 * (UTF-8; the fields as validated: names never hold a TAB, CR or LF, so
 * nothing is quoted; the number in plain decimal). No rows: SHA-256 of
 * nothing. The rows of a batch refused with INVALID_BET are
 * not stored, so they are left out; every other batch the agency sent counts,
 * including those whose ACK a dropped connection kept from it (the server
 * took them before WELCOME said so). The digest does not depend on how the
 * rows were batched. The server answers ACK only when `total` and `digest`
 * match what it holds (else TOTAL_MISMATCH or DIGEST_MISMATCH): an ACK to
 * FINISH means the server holds exactly the agency's rows.
 */
export type Finish = { type: 'FINISH'; total: number; digest: string };
export type Winners = { type: 'WINNERS' };
export type Result = { type: 'RESULT'; documents: string[]; last: boolean };
/**
 * While a WINNERS is held for the draw, to an agency that said `progress` in
 * its HELLO: how many of the agencies have finished. Sent at once and on
 * each change; the RESULT still follows.
 */
export type Waiting = { type: 'WAITING'; finished: number; agencies: number };
/** The monitor asks where the lottery stands (plaintext: anyone, as PING). Answered with one STATUS_REPORT. */
export type Status = { type: 'STATUS' };
/**
 * Where the lottery stands, as the status page shows it, in one frame:
 * `counts`: agencies by state (absent, uploading, finished, …; they sum to
 * `agencies`); `waiting`: the ids not finished, ascending, at most 1,000,
 * and `waitingMore` how many more; `bets` stored, `betsPerSecond` over the
 * last few seconds; once `drawn`, the draw's `digest` (the sorteo line's)
 * and its `winners` in all. No document, name or birthdate.
 */
export type StatusReport = {
  type: 'STATUS_REPORT';
  agencies: number;
  counts: Record<string, number>;
  waiting: number[];
  waitingMore: number;
  bets: number;
  betsPerSecond: number;
  drawn: boolean;
  digest?: string;
  winners?: number;
};
/**
 * Close sales now: the monitor identity only, so never on a plaintext
 * server. Answered CLOSED, or ERROR DRAW_DONE if the draw came first; the
 * server then closes the connection.
 */
export type Close = { type: 'CLOSE' };
/** Sales are closed: since `at` (ISO 8601 UTC; the first close's, if they were closed already); `unfinished`, the agencies that had not finished. */
export type Closed = { type: 'CLOSED'; at: string; unfinished: number[] };
export type Ping = { type: 'PING' };
export type Pong = { type: 'PONG' };
/**
 * A refusal. `offset` and `next` are set when the refusal is about a batch:
 * the batch that started at `offset` was refused as a whole and the server now
 * expects `next` (a refused FINISH sets only `next`). Every ERROR is followed
 * by the server closing the connection, except INVALID_BET: the batch's
 * offsets are used, none of its bets is stored, and the agency goes on from
 * `next` on the same connection.
 */
export type ErrorMessage = { type: 'ERROR'; code: string; message: string; offset?: number; next?: number };

export type Message =
  Hello | Welcome | Bets | Ack | Finish | Winners | Result | Waiting | Status | StatusReport | Close | Closed | Ping | Pong | ErrorMessage;
export type MessageName = Message['type'];
export type MessageOf<N extends MessageName> = Extract<Message, { type: N }>;
