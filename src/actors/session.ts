// Session actor. Runs on a session worker thread (see session-worker.ts), one
// per connection: it owns the connection's transport (a socket, or a TLS
// stream; see src/transport/transport.ts), turns its bytes into frames, and
// speaks the protocol, validating every message before anything acts on it.
// Frames are handled one at a time through the mailbox. The BETS frames of
// one read go to the Store back to back, so they can share a group commit,
// and are acknowledged in order; the connection is not read again until all
// of them are answered: a slow Store slows the agency down instead of
// filling memory.
//
// What one peer can cost is bounded. A read's frames are handled at most
// TURN_BYTES at a time, yielding to the worker's other connections between;
// no frame is handled, and the connection is not read, while its unsent
// replies fill the write buffer (a socket's high-water mark, 64 KiB), and a peer
// that leaves them unread for the idle timeout is cut off. The
// idle timer only runs while it is the peer's turn to speak (never while the
// server works for it, or holds its WINNERS), and a frame, once begun, must
// be complete within the frame timeout however slowly its bytes trickle in.

import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Remote } from 'comlink';
import { todayUtc, validateBet } from '../bets/bet.ts';
import { betRowsFromPayload } from '../bets/bet-rows-from-payload.ts';
import { encodeBetRows } from '../bets/bets-csv.ts';
import { logEvent, type Logger } from '../log/logger.ts';
import { describeIdentity, type Identity } from '../pki/identity.ts';
import { decodeMessage, encodeMessage, encodeResult } from '../wire/codec.ts';
import type { Transport } from '../transport/transport.ts';
import { writesTogether } from '../transport/writes-together.ts';
import { FrameDecoder } from '../wire/frame-decoder.ts';
import { HEADER_SIZE, MAX_FRAME_SIZE, type Frame } from '../wire/frame.ts';
import { MessageType } from '../wire/message-type.ts';
import type { Message, MessageOf, WireBet } from '../wire/messages.ts';
import type { LotteryApi } from './lottery-api.ts';
import type { Lottery } from './lottery.ts';
import { Mailbox } from './mailbox.ts';
import type { AppendOutcome, AppendRequest } from './store-api.ts';
import type { SessionStore } from './store-client.ts';
import { ErrorCode, InvalidBetError, ProtocolError } from '../errors.ts';

/** How often a held WINNERS looks whether more agencies have finished, for an agency that shows it. */
const PROGRESS_EVERY_MS = 1000;

export type SessionOptions = {
  agencies: number;
  store: SessionStore;
  lottery: Remote<LotteryApi> | LotteryApi;
  log: Logger;
  handshakeTimeoutMs: number;
  /** What the transport's own handshake (TLS) has already taken of handshakeTimeoutMs. */
  handshakeSpentMs?: number;
  /** How long the peer may keep the server waiting: silent, or not reading its replies. */
  idleTimeoutMs: number;
  /** How long a frame may take to arrive once its first byte has. */
  frameTimeoutMs: number;
  /**
   * Who the connection's verified client certificate says it is (mutual
   * TLS). It then decides which agency the connection may speak for, and the
   * monitor may only PING. Undefined on a plaintext server: anyone is anyone.
   */
  identity?: Identity;
  /** Told once the connection has said which agency it is. */
  onHello?: (agency: number) => void;
};

/**
 * A BETS batch between the Store and its answer: what the Store is asked,
 * the bets (for the debug log; absent on the fast path, which debug level
 * turns off), and, for a batch with an invalid bet, why (the Store then
 * stores none of it).
 */
type BatchInHand = { request: AppendRequest; bets?: readonly WireBet[]; invalid?: string };

/** How long a closing connection may take to flush its last frames. */
const LINGER_MS = 2000;
/** Frame bytes handled in one turn of the worker's event loop before other connections get theirs. */
export const TURN_BYTES = 4 * MAX_FRAME_SIZE;
/** Every PONG is the same frame: written from one copy, never encoded again. */
const PONG_FRAME = encodeMessage({ type: 'PONG' });

export class Session {
  readonly #transport: Transport;
  readonly #options: SessionOptions;
  #log: Logger;
  readonly #decoder = new FrameDecoder();
  readonly #mailbox = new Mailbox();
  readonly #peer: string;
  #agency: number | undefined;
  #finished = false;
  #awaitingWinners = false;
  /** Names this connection's held WINNERS request, so the Lottery can drop it if the connection goes. */
  #winnersTicket: string | undefined;
  /** The agency said in HELLO that it shows its progress: it is told WAITING while its WINNERS is held. */
  #wantsProgress = false;
  #progressTimer: NodeJS.Timeout | undefined;
  /** Frames received this tick and not yet handed to #handleRead. */
  #gathered: Frame[] | undefined;
  /** Frames of a read in hand: the server is working for the peer, whose silence does not count. */
  #busy = false;
  /** Runs while it is the peer's turn to speak; see #peersTurn. */
  #idleTimer: NodeJS.Timeout | undefined;
  /** Runs while a begun frame waits for its rest (and the peer's turn); #frameBudgetMs is what it has left. */
  #frameTimer: NodeJS.Timeout | undefined;
  #frameBudgetMs = 0;
  #frameClockSince = 0;
  /**
   * Called before replies are written: those of one tick leave in one write,
   * so a burst of small frames (PINGs, say) costs one system call, not one each.
   */
  readonly #batchReplies: () => void;
  /** The answers to BETS frames handed to the Store, sent in order as it decides. */
  #answers: Promise<void> = Promise.resolve();
  #closing = false;
  /** Set by stop(): the connection is not read again. */
  #stopping = false;
  #handshakeTimer: NodeJS.Timeout;
  readonly closed: Promise<void>;

  constructor(transport: Transport, options: SessionOptions) {
    this.#transport = transport;
    this.#batchReplies = writesTogether(transport);
    this.#options = options;
    this.#peer = transport.peer;
    this.#log = options.log;
    const closed = Promise.withResolvers<void>();
    this.closed = closed.promise;
    transport.start({
      data: (chunk) => this.#receive(chunk),
      error: (error) => logEvent(this.#log, 'debug', 'connection', 'fail', { peer: this.#peer, error: error.message }),
      end: () => this.#close(),
      close: () => {
        closed.resolve();
        this.#onClosed();
      },
    });
    this.#startIdleTimer();
    this.#handshakeTimer = setTimeout(
      () => {
        this.#closeWithError(new ProtocolError(ErrorCode.TIMEOUT, `no HELLO within ${options.handshakeTimeoutMs / 1000} s`));
      },
      Math.max(0, options.handshakeTimeoutMs - (options.handshakeSpentMs ?? 0)),
    );
    transport.resume();
  }

  /** Stops the session: the frame in hand is finished and answered, then the connection closes. */
  async stop(reason: string): Promise<void> {
    this.#stopping = true;
    this.#transport.pause();
    this.#stopClocks();
    await this.#mailbox.idle();
    if (this.#awaitingWinners) this.#send({ type: 'ERROR', code: ErrorCode.SERVER_STOPPING, message: reason });
    this.#close();
    await this.closed;
  }

  /** Closes the connection because another one took its place. */
  replace(): void {
    this.#closeWithError(new ProtocolError(ErrorCode.REPLACED, `a newer connection for agency ${this.#agency} took over`));
  }

  #receive(chunk: Buffer): void {
    const wasBuffered = this.#decoder.buffered;
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (error) {
      this.#closeWithError(error);
      return;
    }
    this.#idleTimer?.refresh();
    // A frame begun in this chunk gets the whole frame timeout; one still arriving keeps what it had left.
    if (this.#decoder.buffered === 0) this.#stopFrameClock();
    else if (frames.length > 0 || wasBuffered === 0) this.#startFrameClock(this.#options.frameTimeoutMs);
    if (this.#gathered !== undefined) {
      // More of the same read, delivered before it is handled (a TLS stream
      // gives each record of one socket read on its own): handled with it.
      for (const frame of frames) this.#gathered.push(frame);
      this.#stopClocks();
      return;
    }
    if (frames.length === 0) return;
    this.#gathered = frames;
    this.#busy = true;
    this.#stopClocks();
    // Runs before this tick ends: the transport is paused within the tick.
    void this.#mailbox.post(() => {
      const gathered = this.#gathered!;
      this.#gathered = undefined;
      this.#transport.pause();
      return this.#handleRead(gathered);
    });
  }

  /**
   * Handles the frames of one read, a fair share at a time, then reads again
   * once every answer is out and the peer has taken its replies.
   */
  async #handleRead(frames: Frame[]): Promise<void> {
    let turn = 0;
    for (const frame of frames) {
      if (this.#closing || this.#stopping) break;
      if (turn >= TURN_BYTES) {
        // The worker's other connections get a turn.
        await nextTurn();
        turn = 0;
      }
      this.#batchReplies();
      await this.#handle(frame);
      turn += HEADER_SIZE + frame.payload.length;
      await this.#drained();
    }
    await this.#answers;
    await this.#drained();
    this.#busy = false;
    if (this.#closing || this.#stopping) return;
    this.#startClocks();
    this.#transport.resume();
  }

  /**
   * Waits until the peer has read enough of its replies; a peer that has not
   * within the idle timeout is cut off: it cannot be told, it is not reading.
   */
  async #drained(): Promise<void> {
    if (!this.#transport.full || this.#transport.destroyed) return;
    const timeoutMs = this.#options.idleTimeoutMs;
    try {
      await Promise.race([this.#transport.drained(AbortSignal.timeout(timeoutMs)), this.closed]);
    } catch {
      if (this.#transport.destroyed) return;
      logEvent(this.#log, 'warn', 'conexion', 'fail', {
        peer: this.#peer,
        code: ErrorCode.TIMEOUT,
        error: `${this.#transport.unsentBytes} bytes of replies unread for ${timeoutMs / 1000} s`,
      });
      this.#closing = true;
      this.#transport.destroy();
    }
  }

  async #handle(frame: Frame): Promise<void> {
    if (this.#closing) return;
    try {
      if (!this.#betsFromFrame(frame)) await this.#dispatch(decodeMessage(frame));
    } catch (error) {
      this.#closeWithError(error);
    }
  }

  async #dispatch(message: Message): Promise<void> {
    if (this.#options.identity?.kind === 'monitor' && message.type !== 'PING') {
      throw new ProtocolError(ErrorCode.UNAUTHORIZED, `the monitor certificate may only PING, not send ${message.type}`);
    }
    switch (message.type) {
      case 'PING':
        return this.#write(PONG_FRAME);
      case 'HELLO':
        return this.#hello(message);
      case 'BETS':
        return this.#bets(this.#requireAgency(message.type), message);
      case 'FINISH':
        return this.#finish(this.#requireAgency(message.type), message);
      case 'WINNERS':
        return this.#winners(this.#requireAgency(message.type));
      default:
        throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `an agency does not send ${message.type}`);
    }
  }

  #requireAgency(type: string): number {
    if (this.#agency === undefined) throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `${type} before HELLO`);
    return this.#agency;
  }

  async #hello({ agency, progress }: MessageOf<'HELLO'>): Promise<void> {
    if (this.#agency !== undefined) throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, 'a second HELLO on the same connection');
    if (agency < 1 || agency > this.#options.agencies) {
      throw new ProtocolError(ErrorCode.UNKNOWN_AGENCY, `agency ${agency} is unknown: agencies are 1..${this.#options.agencies}`);
    }
    const identity = this.#options.identity;
    if (identity !== undefined && !(identity.kind === 'agency' && identity.agency === agency)) {
      throw new ProtocolError(
        ErrorCode.UNAUTHORIZED,
        `this connection's certificate is ${describeIdentity(identity)}'s: it cannot speak for agency ${agency}`,
      );
    }
    clearTimeout(this.#handshakeTimer);
    this.#agency = agency;
    this.#wantsProgress = progress === true;
    this.#log = this.#options.log.child({ agencia: agency });
    const welcome = await this.#options.store.welcome(agency);
    this.#finished = welcome.finished;
    this.#send({ type: 'WELCOME', ...welcome });
    this.#options.onHello?.(agency);
    logEvent(this.#log, 'info', 'conexion', 'success', { peer: this.#peer, offset: welcome.offset, finalizada: welcome.finished });
  }

  /**
   * Takes a BETS frame straight from its bytes when the fast path can (see
   * bet-rows-from-payload.ts): the common case, every bet valid and plainly
   * encoded. The rest, and every frame at debug level, which logs each bet,
   * goes through decodeMessage and #bets.
   */
  #betsFromFrame(frame: Frame): boolean {
    if (frame.type !== MessageType.BETS || this.#agency === undefined || this.#log.isLevelEnabled('debug')) return false;
    const batch = betRowsFromPayload(frame.payload, this.#agency, todayUtc());
    if (batch === undefined) return false;
    this.#append({ request: { agency: this.#agency, offset: batch.offset, count: batch.count, rows: batch.rows } });
    return true;
  }

  #bets(agency: number, { offset, bets }: MessageOf<'BETS'>): void {
    const count = bets.length;
    let valid: WireBet[];
    try {
      valid = validateAll(bets);
    } catch (error) {
      if (!(error instanceof InvalidBetError)) throw error;
      return this.#append({ request: { agency, offset, count, rows: null }, invalid: error.message });
    }
    this.#append({ request: { agency, offset, count, rows: encodeBetRows(agency, valid) }, bets: valid });
  }

  /** Hands a batch to the Store now and queues its answer behind the earlier ones. */
  #append(batch: BatchInHand): void {
    const decided = this.#options.store.append(batch.request);
    this.#answers = this.#answers.then(async () => {
      try {
        const outcome = await decided;
        // The answers to one group commit arrive together: they leave in one write (one TLS record).
        this.#batchReplies();
        this.#answerBets(batch, outcome);
      } catch (error) {
        this.#closeWithError(error);
      }
    });
  }

  #answerBets(
    { request: { offset, count }, bets = [], invalid = 'the batch holds an invalid bet' }: BatchInHand,
    outcome: AppendOutcome,
  ): void {
    switch (outcome.status) {
      case 'stored':
        logEvent(this.#log, 'info', 'apuesta_recibida', 'success', { cantidad: outcome.stored });
        if (this.#log.isLevelEnabled('debug')) {
          for (const bet of bets.slice(count - outcome.stored)) {
            logEvent(this.#log, 'debug', 'apuesta_almacenada', 'success', { dni: bet[2], numero: bet[4] });
          }
        }
        return this.#send({ type: 'ACK', offset: outcome.next });
      case 'duplicate':
        logEvent(this.#log, 'info', 'apuesta_recibida', 'success', { cantidad: 0, duplicadas: count, offset });
        return this.#send({ type: 'ACK', offset: outcome.next });
      case 'invalid':
        logEvent(this.#log, 'warn', 'apuesta_recibida', 'fail', { cantidad: count, offset, error: invalid });
        return this.#send({ type: 'ERROR', code: ErrorCode.INVALID_BET, message: invalid, offset, next: outcome.next });
      case 'rejected':
        logEvent(this.#log, 'warn', 'apuesta_recibida', 'fail', { cantidad: count, offset, code: outcome.code, error: outcome.message });
        this.#send({ type: 'ERROR', code: outcome.code, message: outcome.message, offset, next: outcome.next });
        return this.#close();
    }
  }

  async #finish(agency: number, { total, digest }: MessageOf<'FINISH'>): Promise<void> {
    await this.#answers;
    if (this.#closing) return;
    const outcome = await this.#options.lottery.finish(agency, total, digest);
    if (outcome.status === 'rejected') {
      logEvent(this.#log, 'warn', 'finalizar', 'fail', { code: outcome.code, error: outcome.message });
      this.#send({ type: 'ERROR', code: outcome.code, message: outcome.message, next: outcome.next });
      return this.#close();
    }
    this.#finished = true;
    // FINISH is answered with the total it recorded, so an agency knows it counts.
    this.#send({ type: 'ACK', offset: outcome.total });
  }

  #winners(agency: number): void {
    if (!this.#finished) throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, "WINNERS before this agency's FINISH");
    if (this.#awaitingWinners) return;
    this.#awaitingWinners = true;
    this.#winnersTicket = randomUUID();
    // Held outside the mailbox: PING and a close are still handled meanwhile.
    // The idle timer does not run while the server owes the answer.
    void Promise.resolve(this.#options.lottery.winners(agency, this.#winnersTicket)).then(
      (outcome) => {
        this.#stopProgress();
        this.#awaitingWinners = false;
        this.#winnersTicket = undefined;
        this.#startClocks();
        if (this.#closing) return;
        if (outcome.status === 'rejected') {
          this.#send({ type: 'ERROR', code: outcome.code, message: outcome.message });
          return this.#close();
        }
        for (const frame of encodeResult(outcome.documents)) this.#transport.send(frame);
        logEvent(this.#log, 'info', 'consulta_ganadores', 'success', { cant_ganadores: outcome.documents.length });
      },
      (error: unknown) => {
        this.#stopProgress();
        this.#awaitingWinners = false;
        this.#winnersTicket = undefined;
        this.#closeWithError(error);
      },
    );
    if (this.#wantsProgress) this.#startProgress();
  }

  /** Tells the waiting agency how many agencies have finished, now and on each change. */
  #startProgress(): void {
    // Optional for a Lottery stand-in; over comlink, the call is remote.
    const lottery = this.#options.lottery as {
      progress?: () => ReturnType<Lottery['progress']> | Promise<ReturnType<Lottery['progress']>>;
    };
    if (lottery.progress === undefined) return;
    let told = -1;
    const tell = async () => {
      const { finished, agencies } = await lottery.progress!();
      if (!this.#awaitingWinners || finished === told) return;
      told = finished;
      this.#send({ type: 'WAITING', finished, agencies });
    };
    const tick = () => void tell().catch(() => undefined);
    tick();
    this.#progressTimer = setInterval(tick, PROGRESS_EVERY_MS);
    this.#progressTimer.unref();
  }

  #stopProgress(): void {
    clearInterval(this.#progressTimer);
    this.#progressTimer = undefined;
  }

  /** Whether the connection is being read: the server is not working on the peer's frames, nor closing. */
  #reading(): boolean {
    return !this.#busy && !this.#closing && !this.#stopping;
  }

  /** Whether the server waits on the peer: reading, and not holding its WINNERS. */
  #peersTurn(): boolean {
    return this.#reading() && !this.#awaitingWinners;
  }

  /** When the connection is read again: the frame clock if a frame is half in, and the idle timer if it is the peer's turn. */
  #startClocks(): void {
    if (!this.#reading()) return;
    if (this.#decoder.buffered > 0 && this.#frameTimer === undefined) this.#startFrameClock(this.#frameBudgetMs);
    if (this.#peersTurn()) this.#startIdleTimer();
  }

  #startIdleTimer(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.#onIdle(), this.#options.idleTimeoutMs);
  }

  #stopClocks(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#frameTimer !== undefined) {
      clearTimeout(this.#frameTimer);
      this.#frameTimer = undefined;
      this.#frameBudgetMs -= performance.now() - this.#frameClockSince;
    }
  }

  #startFrameClock(budgetMs: number): void {
    clearTimeout(this.#frameTimer);
    this.#frameBudgetMs = budgetMs;
    this.#frameClockSince = performance.now();
    this.#frameTimer = setTimeout(() => this.#onFrameTimeout(), Math.max(0, budgetMs));
  }

  #stopFrameClock(): void {
    clearTimeout(this.#frameTimer);
    this.#frameTimer = undefined;
  }

  #onIdle(): void {
    this.#idleTimer = undefined;
    if (!this.#peersTurn()) return;
    const detail = this.#decoder.buffered > 0 ? `a frame cut off after ${this.#decoder.buffered} bytes` : 'no traffic';
    this.#closeWithError(new ProtocolError(ErrorCode.TIMEOUT, `${detail} for ${this.#options.idleTimeoutMs / 1000} s`));
  }

  #onFrameTimeout(): void {
    this.#frameTimer = undefined;
    if (!this.#reading()) return;
    const seconds = this.#options.frameTimeoutMs / 1000;
    this.#closeWithError(
      new ProtocolError(ErrorCode.TIMEOUT, `a frame not complete within ${seconds} s: ${this.#decoder.buffered} bytes of it came`),
    );
  }

  /** The connection is gone: no timer runs for it, and the Lottery holds nothing for it. */
  #onClosed(): void {
    clearTimeout(this.#handshakeTimer);
    this.#stopProgress();
    this.#stopClocks();
    if (this.#winnersTicket !== undefined) void Promise.resolve(this.#options.lottery.withdraw(this.#winnersTicket)).catch(() => undefined);
  }

  #send(message: Message): void {
    this.#write(encodeMessage(message));
  }

  #write(frame: Uint8Array): void {
    if (!this.#closing && !this.#transport.destroyed) this.#transport.send(frame);
  }

  /** Answers ERROR for what went wrong, logs it and closes the connection. */
  #closeWithError(error: unknown): void {
    if (this.#closing) return;
    const code = error instanceof ProtocolError ? error.code : ErrorCode.INTERNAL;
    const message = error instanceof Error ? error.message : String(error);
    logEvent(this.#log, 'warn', 'conexion', 'fail', { peer: this.#peer, code, error: message });
    this.#send({ type: 'ERROR', code, message });
    this.#close();
  }

  #close(): void {
    if (this.#closing) return;
    this.#closing = true;
    clearTimeout(this.#handshakeTimer);
    this.#transport.end();
    // A peer that never reads must not keep the connection, or shutdown, waiting.
    setTimeout(() => this.#transport.destroy(), LINGER_MS).unref();
  }
}

function validateAll(bets: readonly unknown[]): WireBet[] {
  // Read once per batch: formatting the clock per bet costs more than checking the bet.
  const today = todayUtc();
  return bets.map((bet, index) => {
    try {
      return validateBet(bet as unknown[], today);
    } catch (error) {
      if (error instanceof InvalidBetError) throw new InvalidBetError(error.field, `bet ${index} of the batch: ${error.message}`);
      throw error;
    }
  });
}
