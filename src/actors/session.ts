// Session actor. Runs on a session worker thread (see session-worker.ts), one
// per connection: it owns the connection's transport (a socket, or a TLS
// stream; see src/transport/transport.ts), turns its bytes into frames, and
// carries out what the protocol (session-protocol.ts, a pure state machine
// that decides what every message means and how it is answered) says to do.
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
import { logEvent, type Logger } from '../log/logger.ts';
import type { Identity } from '../pki/identity.ts';
import { encodeMessage } from '../wire/codec.ts';
import type { Transport } from '../transport/transport.ts';
import { writesTogether } from '../transport/writes-together.ts';
import { ErrorCode, ProtocolError } from '../wire/errors.ts';
import { FrameDecoder } from '../wire/frame-decoder.ts';
import { HEADER_SIZE, MAX_FRAME_SIZE, type Frame } from '../wire/frame.ts';
import type { LotteryApi } from './lottery-api.ts';
import type { Lottery } from './lottery.ts';
import { Mailbox } from './mailbox.ts';
import { SessionProtocol, type BatchInHand, type SessionAction } from './session-protocol.ts';
import type { SessionStore } from './store-client.ts';

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

/** How long a closing connection may take to flush its last frames. */
const LINGER_MS = 2000;
/** Frame bytes handled in one turn of the worker's event loop before other connections get theirs. */
export const TURN_BYTES = 4 * MAX_FRAME_SIZE;

export class Session {
  readonly #transport: Transport;
  readonly #options: SessionOptions;
  #log: Logger;
  readonly #protocol: SessionProtocol;
  readonly #decoder = new FrameDecoder();
  readonly #mailbox = new Mailbox();
  readonly #peer: string;
  /** Names this connection's held WINNERS request, so the Lottery can drop it if the connection goes. */
  #winnersTicket: string | undefined;
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
    this.#protocol = new SessionProtocol({
      agencies: options.agencies,
      identity: options.identity,
      peer: transport.peer,
      logsEachBet: options.log.isLevelEnabled('debug'),
    });
    const closed = Promise.withResolvers<void>();
    this.closed = closed.promise;
    transport.start({
      data: (chunk) => this.#receive(chunk),
      error: (error) => logEvent(this.#log, 'debug', 'connection', 'fail', { peer: this.#peer, error: error.message }),
      end: () => this.#carryOut(this.#protocol.peerEnded()),
      close: () => {
        closed.resolve();
        this.#onClosed();
      },
    });
    this.#startIdleTimer();
    this.#handshakeTimer = setTimeout(
      () => {
        this.#fail(new ProtocolError(ErrorCode.TIMEOUT, `no HELLO within ${options.handshakeTimeoutMs / 1000} s`));
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
    this.#carryOut(this.#protocol.stop(reason));
    await this.closed;
  }

  /** Closes the connection because another one took its place. */
  replace(): void {
    this.#carryOut(this.#protocol.replaced());
  }

  #receive(chunk: Buffer): void {
    const wasBuffered = this.#decoder.buffered;
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (error) {
      this.#fail(error);
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
      if (this.#protocol.closing || this.#stopping) break;
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
    if (this.#protocol.closing || this.#stopping) return;
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
      this.#protocol.cutOff();
      this.#transport.destroy();
    }
  }

  async #handle(frame: Frame): Promise<void> {
    try {
      await this.#carryOut(this.#protocol.frame(frame));
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * Does what the protocol says, in order. Only an action that asks another
   * actor and feeds its answer back (always the last of its list) makes this
   * wait: the promise then says when it is done.
   */
  #carryOut(actions: readonly SessionAction[]): Promise<void> | undefined {
    for (const action of actions) {
      switch (action.kind) {
        case 'send':
          this.#write(encodeMessage(action.message));
          break;
        case 'write':
          this.#write(action.frame);
          break;
        case 'log':
          logEvent(this.#log, action.level, action.action, action.result, action.fields);
          break;
        case 'close':
          this.#close();
          break;
        case 'append':
          this.#append(action.batch);
          break;
        case 'welcome':
          return this.#welcome(action.agency);
        case 'admitted':
          this.#options.onHello?.(action.agency);
          break;
        case 'settle':
          return this.#settle();
        case 'finish':
          return this.#finish(action.agency, action.total, action.digest);
        case 'winners':
          this.#winners(action.agency);
          break;
        case 'startProgress':
          this.#startProgress();
          break;
        case 'stopProgress':
          this.#stopProgress();
          break;
        case 'withdraw':
          if (this.#winnersTicket !== undefined) {
            void Promise.resolve(this.#options.lottery.withdraw(this.#winnersTicket)).catch(() => undefined);
          }
          break;
      }
    }
    return undefined;
  }

  async #welcome(agency: number): Promise<void> {
    clearTimeout(this.#handshakeTimer);
    this.#log = this.#options.log.child({ agencia: agency });
    await this.#carryOut(this.#protocol.welcomed(await this.#options.store.welcome(agency)));
  }

  /** Hands a batch to the Store now and queues its answer behind the earlier ones. */
  #append(batch: BatchInHand): void {
    const decided = this.#options.store.append(batch.request);
    this.#answers = this.#answers.then(async () => {
      try {
        const outcome = await decided;
        // The answers to one group commit arrive together: they leave in one write (one TLS record).
        this.#batchReplies();
        this.#carryOut(this.#protocol.stored(batch, outcome));
      } catch (error) {
        this.#fail(error);
      }
    });
  }

  async #settle(): Promise<void> {
    await this.#answers;
    await this.#carryOut(this.#protocol.settled());
  }

  async #finish(agency: number, total: number, digest: string): Promise<void> {
    this.#carryOut(this.#protocol.finishAnswered(await this.#options.lottery.finish(agency, total, digest)));
  }

  #winners(agency: number): void {
    this.#winnersTicket = randomUUID();
    // Held outside the mailbox: PING and a close are still handled meanwhile.
    // The idle timer does not run while the server owes the answer.
    void Promise.resolve(this.#options.lottery.winners(agency, this.#winnersTicket)).then(
      (outcome) => {
        const actions = this.#protocol.winnersAnswered(outcome);
        this.#winnersTicket = undefined;
        this.#startClocks();
        this.#carryOut(actions);
      },
      (error: unknown) => {
        const actions = this.#protocol.winnersFailed(error);
        this.#winnersTicket = undefined;
        this.#carryOut(actions);
      },
    );
  }

  /** Tells the waiting agency how many agencies have finished, now and on each change. */
  #startProgress(): void {
    // Optional for a Lottery stand-in; over comlink, the call is remote.
    const lottery = this.#options.lottery as {
      progress?: () => ReturnType<Lottery['progress']> | Promise<ReturnType<Lottery['progress']>>;
    };
    if (lottery.progress === undefined) return;
    const tell = async () => this.#carryOut(this.#protocol.progressed(await lottery.progress!()));
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
    return !this.#busy && !this.#protocol.closing && !this.#stopping;
  }

  /** Whether the server waits on the peer: reading, and not holding its WINNERS. */
  #peersTurn(): boolean {
    return this.#reading() && !this.#protocol.awaitingWinners;
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
    this.#fail(new ProtocolError(ErrorCode.TIMEOUT, `${detail} for ${this.#options.idleTimeoutMs / 1000} s`));
  }

  #onFrameTimeout(): void {
    this.#frameTimer = undefined;
    if (!this.#reading()) return;
    const seconds = this.#options.frameTimeoutMs / 1000;
    this.#fail(
      new ProtocolError(ErrorCode.TIMEOUT, `a frame not complete within ${seconds} s: ${this.#decoder.buffered} bytes of it came`),
    );
  }

  /** The connection is gone: no timer runs for it, and the Lottery holds nothing for it. */
  #onClosed(): void {
    clearTimeout(this.#handshakeTimer);
    this.#stopProgress();
    this.#stopClocks();
    this.#carryOut(this.#protocol.disconnected());
  }

  #fail(error: unknown): void {
    this.#carryOut(this.#protocol.fail(error));
  }

  #write(frame: Uint8Array): void {
    if (!this.#transport.destroyed) this.#transport.send(frame);
  }

  #close(): void {
    clearTimeout(this.#handshakeTimer);
    this.#transport.end();
    // A peer that never reads must not keep the connection, or shutdown, waiting.
    setTimeout(() => this.#transport.destroy(), LINGER_MS).unref();
  }
}
