// What a connection's messages mean and how each is answered, as a pure state
// machine: decoded frames, the answers of the Store and the Lottery, and the
// connection's events (a clock of the peer's ran out, the peer stopped
// reading) go in; actions come out (send this, ask the Store that, close).
// It never waits, reads a clock or touches the connection: session.ts carries
// out its actions, and the clocks and flow control are src/transport's
// (peer-clocks.ts, read-turns.ts), so every rule of the protocol can be
// checked here in memory, frame by frame.
//
// The shell carries out a list of actions in order, at once; an action that
// asks another actor (welcome, settle, finish) is always the last of its list,
// and its answer comes back as the next input.

import { todayUtc, validateBet } from '../bets/bet.ts';
import { betRowsFromPayload } from '../bets/bet-rows-from-payload.ts';
import { encodeCanonicalLines } from '../bets/canonical-bet.ts';
import type { EventResult } from '../log/logger.ts';
import { describeIdentity, type Identity } from '../pki/identity.ts';
import { STATUS_WAITING_LIMIT, decodeMessage, encodeMessage, encodeResult } from '../wire/codec.ts';
import type { LotteryStatus } from '../ledger/lottery-status.ts';
import type { Frame } from '../wire/frame.ts';
import { MessageType } from '../wire/message-type.ts';
import type { Message, MessageOf, WireBet } from '../wire/messages.ts';
import type { WinnersOutcome } from './lottery-api.ts';
import type { AgencyWelcome, AppendOutcome, AppendRequest, FinishOutcome } from './store-api.ts';
import { ErrorCode, InvalidBetError, ProtocolError } from '../errors.ts';

/**
 * A BETS batch between the Store and its answer: what the Store is asked,
 * the bets (for the debug log; absent on the fast path, which debug level
 * turns off), and, for a batch with an invalid bet, why (the Store then
 * stores none of it).
 */
export type BatchInHand = { request: AppendRequest; bets?: readonly WireBet[]; invalid?: string };

export type LogAction = {
  kind: 'log';
  level: 'debug' | 'info' | 'warn';
  action: string;
  result: EventResult;
  fields: Record<string, unknown>;
};

export type SessionAction =
  /** Send a message to the peer. */
  | { kind: 'send'; message: Message }
  /** Send bytes already framed (a PONG, a RESULT frame). */
  | { kind: 'write'; frame: Uint8Array }
  /** HELLO is accepted: no handshake timeout any more, log as the agency, ask the Store where it stands; the answer goes to welcomed(). */
  | { kind: 'welcome'; agency: number }
  /** Tell the worker which agency the connection speaks for. */
  | { kind: 'admitted'; agency: number }
  /** Hand the batch to the Store now; its answer goes to stored(), in the order the batches were handed. */
  | { kind: 'append'; batch: BatchInHand }
  /** Wait until every batch handed to the Store is answered, then call settled(). */
  | { kind: 'settle' }
  /** Ask the Lottery to record FINISH; the answer goes to finishAnswered(). */
  | { kind: 'finish'; agency: number; total: number; digest: string }
  /** Ask the Lottery for the agency's winners, held until the draw; the answer goes to winnersAnswered(). */
  | { kind: 'winners'; agency: number }
  /** Ask the Lottery how many agencies have finished, now and every so often, into progressed(). */
  | { kind: 'startProgress' }
  | { kind: 'stopProgress' }
  /** Ask the Lottery where the lottery stands; the answer goes to statusAnswered(). */
  | { kind: 'status' }
  /** Tell the Lottery the held WINNERS is no longer wanted. */
  | { kind: 'withdraw' }
  /** Ask the Lottery to close sales now; the answer goes to closeAnswered(). */
  | { kind: 'closeSales' }
  | LogAction
  /** Close the connection once what is sent has left. */
  | { kind: 'close' };

export type SessionProtocolOptions = {
  /** Agencies are 1..agencies. */
  agencies: number;
  /** Who the connection's certificate says it is; undefined on a plaintext server. */
  identity?: Identity;
  /** The peer's address, for the log. */
  peer: string;
  /** Every stored bet is logged (debug level): BETS then always takes the general path, which keeps the bets. */
  logsEachBet: boolean;
  /** Today's date as validateBet wants it; a test may fix it. */
  today?: () => string;
};

/**
 * PINGs a connection may send before HELLO: enough for a monitor or a
 * health check to ask a few times, not a flood from anyone holding the
 * monitor's certificate (or none, on a plaintext server), which never says
 * HELLO and would otherwise be answered PONG for as long as it liked.
 */
export const MAX_PINGS_BEFORE_HELLO = 16;

/** Every PONG is the same frame: written from one copy, never encoded again. */
const PONG_FRAME = encodeMessage({ type: 'PONG' });
const NOTHING: readonly SessionAction[] = [];

export class SessionProtocol {
  readonly #options: SessionProtocolOptions;
  readonly #today: () => string;
  #agency: number | undefined;
  #pingsBeforeHello = 0;
  /** STATUS asked on this connection: each costs the store worker a pass over every agency. */
  #statusAsked = 0;
  #finished = false;
  /** Sales were closed when the agency said HELLO: it may ask its winners from what was stored without FINISH. */
  #salesClosed = false;
  /** A CLOSE is with the Lottery. */
  #closingSales = false;
  #awaitingWinners = false;
  /** The agency said in HELLO that it shows its progress: it is told WAITING while its WINNERS is held. */
  #wantsProgress = false;
  /** The count of finished agencies the agency was last told, for the WINNERS held now. */
  #toldFinished = -1;
  /** A FINISH waiting for the answers to the batches before it. */
  #heldFinish: { total: number; digest: string } | undefined;
  #closing = false;

  constructor(options: SessionProtocolOptions) {
    this.#options = options;
    this.#today = options.today ?? todayUtc;
  }

  /** The agency the connection speaks for, once HELLO is accepted. */
  get agency(): number | undefined {
    return this.#agency;
  }

  /** A WINNERS is held for the draw: the server owes the answer, so the peer's silence does not count. */
  get awaitingWinners(): boolean {
    return this.#awaitingWinners;
  }

  /** The connection is closing: nothing more is said on it, nothing more it sends is handled. */
  get closing(): boolean {
    return this.#closing;
  }

  /** A whole frame from the peer. */
  frame(frame: Frame): readonly SessionAction[] {
    if (this.#closing) return NOTHING;
    try {
      return this.#betsFromFrame(frame) ?? this.#message(decodeMessage(frame));
    } catch (error) {
      return this.fail(error);
    }
  }

  /** The Store's answer to HELLO's question. */
  welcomed(welcome: AgencyWelcome): readonly SessionAction[] {
    this.#finished = welcome.finished;
    this.#salesClosed = welcome.closedAt !== undefined;
    const out: SessionAction[] = [];
    this.#send(out, { type: 'WELCOME', ...welcome });
    out.push({ kind: 'admitted', agency: this.#agency! });
    out.push(log('info', 'conexion', 'success', { peer: this.#options.peer, offset: welcome.offset, finalizada: welcome.finished }));
    return out;
  }

  /** The Store's answer to a batch, in the order the batches were handed to it. */
  stored(batch: BatchInHand, outcome: AppendOutcome): readonly SessionAction[] {
    const {
      request: { offset, count },
      bets = [],
      invalid = 'the batch holds an invalid bet',
    } = batch;
    const out: SessionAction[] = [];
    switch (outcome.status) {
      case 'stored':
        out.push(log('info', 'apuesta_recibida', 'success', { cantidad: outcome.stored }));
        if (this.#options.logsEachBet) {
          for (const bet of bets.slice(count - outcome.stored)) {
            out.push(log('debug', 'apuesta_almacenada', 'success', { dni: bet[2], numero: bet[4] }));
          }
        }
        this.#send(out, { type: 'ACK', offset: outcome.next });
        break;
      case 'duplicate':
        out.push(log('info', 'apuesta_recibida', 'success', { cantidad: 0, duplicadas: count, offset }));
        this.#send(out, { type: 'ACK', offset: outcome.next });
        break;
      case 'invalid':
        // The batch's offsets are used and the agency goes on from `next` on the same connection.
        out.push(log('warn', 'apuesta_recibida', 'fail', { cantidad: count, offset, error: invalid }));
        this.#send(out, { type: 'ERROR', code: ErrorCode.INVALID_BET, message: invalid, offset, next: outcome.next });
        break;
      case 'rejected':
        out.push(log('warn', 'apuesta_recibida', 'fail', { cantidad: count, offset, code: outcome.code, error: outcome.message }));
        this.#send(out, { type: 'ERROR', code: outcome.code, message: outcome.message, offset, next: outcome.next });
        this.#close(out);
        break;
    }
    return out;
  }

  /** Every batch handed to the Store before a FINISH is answered: the FINISH goes to the Lottery, unless the connection is closing. */
  settled(): readonly SessionAction[] {
    const held = this.#heldFinish;
    this.#heldFinish = undefined;
    if (held === undefined || this.#closing) return NOTHING;
    return [{ kind: 'finish', agency: this.#agency!, total: held.total, digest: held.digest }];
  }

  /** The Lottery's answer to FINISH. */
  finishAnswered(outcome: FinishOutcome): readonly SessionAction[] {
    const out: SessionAction[] = [];
    if (outcome.status === 'rejected') {
      out.push(log('warn', 'finalizar', 'fail', { code: outcome.code, error: outcome.message }));
      this.#send(out, { type: 'ERROR', code: outcome.code, message: outcome.message, next: outcome.next });
      this.#close(out);
      return out;
    }
    this.#finished = true;
    // FINISH is answered with the total it recorded, so an agency knows it counts.
    this.#send(out, { type: 'ACK', offset: outcome.total });
    return out;
  }

  /** The Lottery's answer to the held WINNERS: the draw is made (or the Lottery refuses). */
  winnersAnswered(outcome: WinnersOutcome): readonly SessionAction[] {
    this.#awaitingWinners = false;
    const out: SessionAction[] = [{ kind: 'stopProgress' }];
    if (this.#closing) return out;
    if (outcome.status === 'rejected') {
      this.#send(out, { type: 'ERROR', code: outcome.code, message: outcome.message });
      this.#close(out);
      return out;
    }
    for (const frame of encodeResult(outcome.documents)) out.push({ kind: 'write', frame });
    out.push(log('info', 'consulta_ganadores', 'success', { cant_ganadores: outcome.documents.length }));
    return out;
  }

  /** The Lottery could not be asked for the winners. */
  winnersFailed(error: unknown): readonly SessionAction[] {
    this.#awaitingWinners = false;
    return [{ kind: 'stopProgress' }, ...this.fail(error)];
  }

  /** The Lottery's status, for the STATUS asked: one STATUS_REPORT. */
  statusAnswered(status: LotteryStatus): readonly SessionAction[] {
    const out: SessionAction[] = [];
    this.#send(out, statusReport(status));
    return out;
  }

  /** How many agencies have finished, for an agency that waits for the draw and shows its progress: told on each change. */
  progressed({ finished, agencies }: { finished: number; agencies: number }): readonly SessionAction[] {
    if (!this.#awaitingWinners || finished === this.#toldFinished) return NOTHING;
    this.#toldFinished = finished;
    const out: SessionAction[] = [];
    this.#send(out, { type: 'WAITING', finished, agencies });
    return out;
  }

  /** The server stops: a held WINNERS is told why, then the connection closes. */
  stop(reason: string): readonly SessionAction[] {
    const out: SessionAction[] = [];
    if (this.#awaitingWinners) this.#send(out, { type: 'ERROR', code: ErrorCode.SERVER_STOPPING, message: reason });
    this.#close(out);
    return out;
  }

  /**
   * Another connection took this agency's place, from the peer `by` (its
   * address:port) when known. An agency that reconnects never reads this on
   * the connection it left, so an agency that does is being replaced by
   * another process: it is told so, and from where, and stops.
   */
  replaced(by?: string): readonly SessionAction[] {
    const from = by === undefined ? '' : ` from ${by}`;
    return this.fail(
      new ProtocolError(
        ErrorCode.REPLACED,
        `a newer connection${from} took over agency ${this.#agency}: another process is uploading as this agency`,
      ),
    );
  }

  /** The peer ended its side: the connection closes, with nothing to tell it. */
  peerEnded(): readonly SessionAction[] {
    const out: SessionAction[] = [];
    this.#close(out);
    return out;
  }

  /** No HELLO within the handshake timeout (see transport/peer-clocks.ts). */
  handshakeExpired(timeoutMs: number): readonly SessionAction[] {
    return this.fail(new ProtocolError(ErrorCode.TIMEOUT, `no HELLO within ${timeoutMs / 1000} s`));
  }

  /** The peer was silent for the idle timeout on its turn, `frameBytes` of a frame in. */
  idleExpired(timeoutMs: number, frameBytes: number): readonly SessionAction[] {
    const detail = frameBytes > 0 ? `a frame cut off after ${frameBytes} bytes` : 'no traffic';
    return this.fail(new ProtocolError(ErrorCode.TIMEOUT, `${detail} for ${timeoutMs / 1000} s`));
  }

  /** A frame was not complete within the frame timeout: `frameBytes` of it came. */
  frameExpired(timeoutMs: number, frameBytes: number): readonly SessionAction[] {
    const message = `a frame not complete within ${timeoutMs / 1000} s: ${frameBytes} bytes of it came`;
    return this.fail(new ProtocolError(ErrorCode.TIMEOUT, message));
  }

  /**
   * The peer has left `unsentBytes` of replies unread for the idle timeout,
   * so the connection is cut off: it cannot be told, it is not reading, and
   * nothing more is said on it.
   */
  repliesUnread(unsentBytes: number, timeoutMs: number): readonly SessionAction[] {
    this.#closing = true;
    const error = `${unsentBytes} bytes of replies unread for ${timeoutMs / 1000} s`;
    return [log('warn', 'conexion', 'fail', { peer: this.#options.peer, code: ErrorCode.TIMEOUT, error })];
  }

  /** The connection is gone: a held WINNERS is withdrawn from the Lottery. */
  disconnected(): readonly SessionAction[] {
    return this.#awaitingWinners ? [{ kind: 'withdraw' }] : NOTHING;
  }

  /** Answers ERROR for what went wrong, logs it and closes the connection. */
  fail(error: unknown): readonly SessionAction[] {
    if (this.#closing) return NOTHING;
    const code = error instanceof ProtocolError ? error.code : ErrorCode.INTERNAL;
    const message = error instanceof Error ? error.message : String(error);
    const out: SessionAction[] = [log('warn', 'conexion', 'fail', { peer: this.#options.peer, code, error: message })];
    this.#send(out, { type: 'ERROR', code, message });
    this.#close(out);
    return out;
  }

  /**
   * Takes a BETS frame straight from its bytes when the fast path can (see
   * bet-rows-from-payload.ts): the common case, every bet valid and plainly
   * encoded. The rest, and every frame when each bet is logged, goes through
   * decodeMessage and #bets.
   */
  #betsFromFrame(frame: Frame): readonly SessionAction[] | undefined {
    const agency = this.#agency;
    if (frame.type !== MessageType.BETS || agency === undefined || this.#options.logsEachBet) return undefined;
    const batch = betRowsFromPayload(frame.payload, agency, this.#today());
    if (batch === undefined) return undefined;
    return [{ kind: 'append', batch: { request: { agency, offset: batch.offset, count: batch.count, rows: batch.rows } } }];
  }

  #message(message: Message): readonly SessionAction[] {
    const identity = this.#options.identity;
    if (identity?.kind === 'monitor' && !MONITOR_MAY.has(message.type)) {
      throw new ProtocolError(
        ErrorCode.UNAUTHORIZED,
        `the monitor certificate may only PING, ask STATUS and CLOSE sales, not send ${message.type}`,
      );
    }
    switch (message.type) {
      case 'PING':
        if (this.#agency === undefined && ++this.#pingsBeforeHello > MAX_PINGS_BEFORE_HELLO) {
          throw new ProtocolError(
            ErrorCode.UNEXPECTED_MESSAGE,
            `more than ${MAX_PINGS_BEFORE_HELLO} PINGs before HELLO: a monitor asks on a new connection`,
          );
        }
        return [{ kind: 'write', frame: PONG_FRAME }];
      case 'STATUS':
        // Over TLS only the monitor is told; in plaintext anyone is, as anyone may PING.
        if (identity?.kind === 'agency') throw new ProtocolError(ErrorCode.UNAUTHORIZED, 'only the monitor certificate may ask STATUS');
        if (++this.#statusAsked > MAX_PINGS_BEFORE_HELLO) {
          throw new ProtocolError(
            ErrorCode.UNEXPECTED_MESSAGE,
            `more than ${MAX_PINGS_BEFORE_HELLO} STATUS on one connection: a monitor asks on a new connection`,
          );
        }
        return [{ kind: 'status' }];
      case 'HELLO':
        return this.#hello(message);
      case 'BETS':
        return this.#bets(this.#requireAgency(message.type), message);
      case 'FINISH':
        this.#requireAgency(message.type);
        // Answered only once every batch before it is: its total counts them.
        this.#heldFinish = { total: message.total, digest: message.digest };
        return [{ kind: 'settle' }];
      case 'WINNERS':
        return this.#winners(this.#requireAgency(message.type));
      case 'CLOSE':
        return this.#closeSales();
      default:
        throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `an agency does not send ${message.type}`);
    }
  }

  #requireAgency(type: string): number {
    if (this.#agency === undefined) throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `${type} before HELLO`);
    return this.#agency;
  }

  #hello({ agency, progress }: MessageOf<'HELLO'>): readonly SessionAction[] {
    if (this.#agency !== undefined) throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, 'a second HELLO on the same connection');
    const { agencies, identity } = this.#options;
    if (agency < 1 || agency > agencies) {
      throw new ProtocolError(ErrorCode.UNKNOWN_AGENCY, `agency ${agency} is unknown: agencies are 1..${agencies}`);
    }
    if (identity !== undefined && !(identity.kind === 'agency' && identity.agency === agency)) {
      throw new ProtocolError(
        ErrorCode.UNAUTHORIZED,
        `this connection's certificate is ${describeIdentity(identity)}'s: it cannot speak for agency ${agency}`,
      );
    }
    this.#agency = agency;
    this.#wantsProgress = progress === true;
    return [{ kind: 'welcome', agency }];
  }

  #bets(agency: number, { offset, bets }: MessageOf<'BETS'>): readonly SessionAction[] {
    const count = bets.length;
    let valid: WireBet[];
    try {
      valid = validateAll(bets, this.#today());
    } catch (error) {
      if (!(error instanceof InvalidBetError)) throw error;
      return [{ kind: 'append', batch: { request: { agency, offset, count, rows: null }, invalid: error.message } }];
    }
    return [{ kind: 'append', batch: { request: { agency, offset, count, rows: encodeCanonicalLines(agency, valid) }, bets: valid } }];
  }

  /**
   * CLOSE: the monitor identity's alone. A plaintext server has no
   * identities, and closing sales cannot be undone, so there it is refused:
   * such a server closes only at --close-at.
   */
  #closeSales(): readonly SessionAction[] {
    const { identity } = this.#options;
    if (identity === undefined) {
      throw new ProtocolError(
        ErrorCode.UNAUTHORIZED,
        "closing sales needs the monitor's certificate, and this server runs without TLS: it closes only at --close-at",
      );
    }
    if (identity.kind !== 'monitor') {
      throw new ProtocolError(
        ErrorCode.UNAUTHORIZED,
        `this connection's certificate is ${describeIdentity(identity)}'s: only the monitor's may close sales`,
      );
    }
    if (this.#closingSales) return NOTHING;
    this.#closingSales = true;
    return [{ kind: 'closeSales' }];
  }

  /** The Lottery's answer to CLOSE: the close as recorded, or null if the draw came first. Either way the connection ends. */
  closeAnswered(close: { at: string; unfinished: number[] } | null): readonly SessionAction[] {
    const out: SessionAction[] = [];
    if (close === null) {
      this.#send(out, { type: 'ERROR', code: ErrorCode.DRAW_DONE, message: 'the draw has taken place: there are no sales to close' });
    } else {
      out.push(log('info', 'cierre_pedido', 'success', { hora: close.at, sin_finalizar: close.unfinished.length }));
      this.#send(out, { type: 'CLOSED', at: close.at, unfinished: close.unfinished });
    }
    this.#close(out);
    return out;
  }

  #winners(agency: number): readonly SessionAction[] {
    if (!this.#finished && !this.#salesClosed) throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, "WINNERS before this agency's FINISH");
    if (this.#awaitingWinners) return NOTHING;
    this.#awaitingWinners = true;
    this.#toldFinished = -1;
    const out: SessionAction[] = [{ kind: 'winners', agency }];
    if (this.#wantsProgress) out.push({ kind: 'startProgress' });
    return out;
  }

  #send(out: SessionAction[], message: Message): void {
    if (!this.#closing) out.push({ kind: 'send', message });
  }

  #close(out: SessionAction[]): void {
    if (this.#closing) return;
    this.#closing = true;
    out.push({ kind: 'close' });
  }
}

/** What the monitor's certificate may send. */
const MONITOR_MAY: ReadonlySet<string> = new Set(['PING', 'STATUS', 'CLOSE']);

/** The status as one STATUS_REPORT frame: counts, and the first ids not finished. */
export function statusReport(status: LotteryStatus): MessageOf<'STATUS_REPORT'> {
  const notFinished = [...status.waiting.uploading, ...status.waiting.absent].sort((a, b) => a - b);
  const waiting = notFinished.slice(0, STATUS_WAITING_LIMIT);
  return {
    type: 'STATUS_REPORT',
    agencies: status.agencies,
    counts: { ...status.counts },
    waiting,
    waitingMore: notFinished.length - waiting.length + status.waiting.more,
    bets: status.bets,
    betsPerSecond: Math.round(status.betsPerSecond),
    drawn: status.draw.state === 'drawn',
    ...(status.draw.digest === undefined ? {} : { digest: status.draw.digest }),
    ...(status.draw.winners === undefined ? {} : { winners: status.draw.winners }),
  };
}

function log(level: LogAction['level'], action: string, result: EventResult, fields: Record<string, unknown>): LogAction {
  return { kind: 'log', level, action, result, fields };
}

function validateAll(bets: readonly unknown[], today: string): WireBet[] {
  // Read once per batch: formatting the clock per bet costs more than checking the bet.
  return bets.map((bet, index) => {
    try {
      return validateBet(bet as unknown[], today);
    } catch (error) {
      if (error instanceof InvalidBetError) throw new InvalidBetError(error.field, `bet ${index} of the batch: ${error.message}`);
      throw error;
    }
  });
}
