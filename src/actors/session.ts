// Session actor. Runs on a session worker thread (see session-worker.ts), one
// per connection: a thin shell that wires the connection's transport (a
// socket, or a TLS stream; see src/transport/transport.ts) to what decides.
// Its bytes become frames (wire/frame-decoder.ts), the frames of a read are
// handled under flow control (transport/read-turns.ts), each goes to the
// protocol (session-protocol.ts, a pure state machine that decides what
// every message means and how it is answered), and the session carries out
// the actions it returns: send, ask the Store or the Lottery, close. The
// peer's clocks (transport/peer-clocks.ts) are told whose turn it is. The
// BETS frames of one read go to the Store back to back, so they can share a
// group commit, and are acknowledged in order.

import { randomUUID } from 'node:crypto';
import type { Remote } from 'comlink';
import { logEvent, withFields, type Logger } from '../log/logger.ts';
import type { Identity } from '../pki/identity.ts';
import { encodeMessage } from '../wire/codec.ts';
import { PeerClocks, type PeerClockLimits } from '../transport/peer-clocks.ts';
import { ReadTurns } from '../transport/read-turns.ts';
import type { Transport } from '../transport/transport.ts';
import { writesTogether } from '../transport/writes-together.ts';
import { type ChunkFrames, FrameDecoder } from '../wire/frame-decoder.ts';
import type { Frame } from '../wire/frame.ts';
import type { LotteryApi } from './lottery-api.ts';
import { Mailbox } from './mailbox.ts';
import { SessionProtocol, type BatchInHand, type SessionAction } from './session-protocol.ts';
import type { SessionStore } from './store-client.ts';
import type { AppendOutcome } from './store-api.ts';
import type { LotteryStatus } from '../ledger/lottery-status.ts';

/** How often a held WINNERS looks whether more agencies have finished, for an agency that shows it. */
const PROGRESS_EVERY_MS = 1000;

export type SessionOptions = PeerClockLimits & {
  agencies: number;
  store: SessionStore;
  lottery: Remote<LotteryApi> | LotteryApi;
  log: Logger;
  /**
   * Who the connection's verified client certificate says it is (mutual
   * TLS). It then decides which agency the connection may speak for, and the
   * monitor may only PING and ask STATUS. Undefined on a plaintext server: anyone is anyone.
   */
  identity?: Identity;
  /** Told once the connection has said which agency it is. */
  onHello?: (agency: number) => void;
  /** Told when a batch's answer is written: the Store's outcome and the seconds since its frame was handed on (for the metrics). */
  onAnswered?: (outcome: AppendOutcome['status'], seconds: number) => void;
};

/** How the session carries out each kind of action the protocol returns. */
type ActionHandlers = { [Kind in SessionAction['kind']]: (action: Extract<SessionAction, { kind: Kind }>) => void | Promise<void> };

export class Session {
  readonly #transport: Transport;
  readonly #options: SessionOptions;
  #log: Logger;
  readonly #protocol: SessionProtocol;
  readonly #decoder = new FrameDecoder();
  readonly #mailbox = new Mailbox();
  readonly #reads: ReadTurns;
  readonly #clocks: PeerClocks;
  /** Names this connection's held WINNERS request, so the Lottery can drop it if the connection goes. */
  #winnersTicket: string | undefined;
  #progressTimer: NodeJS.Timeout | undefined;
  /**
   * Called before replies are written: those of one tick leave in one write,
   * so a burst of small frames (PINGs, say) costs one system call, not one each.
   */
  readonly #batchReplies: () => void;
  /** The answers to BETS frames handed to the Store, sent in order as it decides. */
  #answers: Promise<void> = Promise.resolve();
  readonly closed: Promise<void>;

  constructor(transport: Transport, options: SessionOptions) {
    this.#transport = transport;
    this.#batchReplies = writesTogether(transport);
    this.#options = options;
    this.#log = options.log;
    this.#protocol = new SessionProtocol({
      agencies: options.agencies,
      identity: options.identity,
      peer: transport.peer,
      logsEachBet: options.log.isLevelEnabled('debug'),
    });
    const closed = Promise.withResolvers<void>();
    this.closed = closed.promise;
    this.#reads = new ReadTurns({
      transport,
      mailbox: this.#mailbox,
      handle: (frame) => this.#handle(frame),
      answered: () => this.#answers,
      closing: () => this.#protocol.closing,
      idleTimeoutMs: options.idleTimeoutMs,
      closed: this.closed,
      unread: () => this.#carryOut(this.#protocol.repliesUnread(transport.unsentBytes, options.idleTimeoutMs)),
      readAgain: () => this.#serverDone(),
    });
    this.#clocks = new PeerClocks(options, {
      handshake: () => this.#carryOut(this.#protocol.handshakeExpired(options.handshakeTimeoutMs)),
      idle: () => this.#carryOut(this.#protocol.idleExpired(options.idleTimeoutMs, this.#decoder.buffered)),
      frame: () => this.#carryOut(this.#protocol.frameExpired(options.frameTimeoutMs, this.#decoder.buffered)),
    });
    transport.start({
      data: (chunk) => this.#receive(chunk),
      error: (error) => logEvent(this.#log, 'debug', 'connection', 'fail', { peer: transport.peer, error: error.message }),
      end: () => this.#carryOut(this.#protocol.peerEnded()),
      close: () => {
        closed.resolve();
        this.#onClosed();
      },
    });
    transport.resume();
  }

  /** Stops the session: the frame in hand is finished and answered, then the connection closes. */
  async stop(reason: string): Promise<void> {
    this.#reads.stop();
    this.#clocks.stop();
    await this.#mailbox.idle();
    this.#carryOut(this.#protocol.stop(reason));
    await this.closed;
  }

  /** Closes the connection because another one took its place. */
  replace(by?: string): void {
    this.#carryOut(this.#protocol.replaced(by));
  }

  #receive(chunk: Buffer): void {
    const wasBuffered = this.#decoder.buffered;
    let frames: ChunkFrames;
    try {
      frames = this.#decoder.pushLazily(chunk);
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#clocks.traffic();
    // A frame begun in this chunk gets the whole frame timeout; one still arriving keeps what it had left.
    if (this.#decoder.buffered === 0) this.#clocks.frameComplete();
    else if (frames.length > 0 || wasBuffered === 0) this.#clocks.frameBegun();
    if (this.#reads.take(frames)) this.#clocks.serverWorking();
  }

  /** The server has done its part (a read handled, the held WINNERS answered): the peer's clocks run again, as its turn says. */
  #serverDone(): void {
    if (this.#reads.inHand || this.#protocol.closing) return;
    if (this.#protocol.awaitingWinners) this.#clocks.serverOwes();
    else this.#clocks.peersTurn();
  }

  async #handle(frame: Frame): Promise<void> {
    this.#batchReplies();
    try {
      await this.#carryOut(this.#protocol.frame(frame));
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * Does what the protocol says, in order. Only an action that asks another
   * actor and feeds its answer back (always the last of its list) makes this
   * wait: its handler, the only kind that returns a promise, says when it is done.
   */
  #carryOut(actions: readonly SessionAction[]): Promise<void> | undefined {
    for (const action of actions) {
      const done = (this.#handlers[action.kind] as (action: SessionAction) => void | Promise<void>)(action);
      if (done instanceof Promise) return done;
    }
    return undefined;
  }

  /** The generation the Store welcomed this connection with, if it fences (a database Store). */
  #generation: number | undefined;

  /** How each kind of action is carried out. */
  readonly #handlers: ActionHandlers = {
    send: ({ message }) => this.#write(encodeMessage(message)),
    write: ({ frame }) => this.#write(frame),
    log: ({ level, action, result, fields }) => logEvent(this.#log, level, action, result, fields),
    close: () => this.#close(),
    welcome: async ({ agency }) => {
      this.#clocks.helloAccepted();
      this.#log = withFields(this.#options.log, { agencia: agency });
      // The generation stays here: the Store fences this connection's appends by it; the agency is not told it.
      const { generation, ...welcome } = await this.#options.store.welcome(agency);
      this.#generation = generation;
      await this.#carryOut(this.#protocol.welcomed(welcome));
    },
    admitted: ({ agency }) => void this.#options.onHello?.(agency),
    append: ({ batch }) => this.#append(batch),
    settle: async () => {
      await this.#answers;
      await this.#carryOut(this.#protocol.settled());
    },
    finish: async ({ agency, total, digest }) => {
      this.#carryOut(this.#protocol.finishAnswered(await this.#options.lottery.finish(agency, total, digest)));
    },
    winners: ({ agency }) => this.#winners(agency),
    status: async () => {
      // Optional for a Lottery stand-in; over comlink, the call is remote.
      const lottery = this.#options.lottery as { status?: () => LotteryStatus | Promise<LotteryStatus> };
      if (lottery.status === undefined) throw new Error('this server keeps no status');
      this.#carryOut(this.#protocol.statusAnswered(await lottery.status()));
    },
    closeSales: async () => {
      type Closed = Awaited<ReturnType<NonNullable<LotteryApi['closeSales']>>>;
      const lottery = this.#options.lottery as { closeSales?: () => Promise<Closed> };
      if (lottery.closeSales === undefined) throw new Error('this Lottery cannot close sales');
      await this.#carryOut(this.#protocol.closeAnswered(await lottery.closeSales()));
    },
    startProgress: () => this.#startProgress(),
    stopProgress: () => this.#stopProgress(),
    withdraw: () => {
      if (this.#winnersTicket === undefined) return;
      void Promise.resolve(this.#options.lottery.withdraw(this.#winnersTicket)).catch(() => undefined);
    },
  };

  /** Hands a batch to the Store now and queues its answer behind the earlier ones. */
  #append(batch: BatchInHand): void {
    const received = performance.now();
    const generation = this.#generation;
    const decided = this.#options.store.append(generation === undefined ? batch.request : { ...batch.request, generation });
    this.#answers = this.#answers.then(async () => {
      try {
        const outcome = await decided;
        // The answers to one group commit arrive together: they leave in one write (one TLS record).
        this.#batchReplies();
        this.#carryOut(this.#protocol.stored(batch, outcome));
        this.#options.onAnswered?.(outcome.status, (performance.now() - received) / 1000);
      } catch (error) {
        this.#fail(error);
      }
    });
  }

  #winners(agency: number): void {
    this.#winnersTicket = randomUUID();
    // Held outside the mailbox: PING and a close are still handled meanwhile.
    // The idle timer does not run while the server owes the answer.
    const answered = (actions: readonly SessionAction[]) => {
      this.#winnersTicket = undefined;
      this.#serverDone();
      this.#carryOut(actions);
    };
    void Promise.resolve(this.#options.lottery.winners(agency, this.#winnersTicket)).then(
      (outcome) => answered(this.#protocol.winnersAnswered(outcome)),
      (error: unknown) => answered(this.#protocol.winnersFailed(error)),
    );
  }

  /** Tells the waiting agency how many agencies have finished, now and on each change. */
  #startProgress(): void {
    // Optional for a Lottery stand-in; over comlink, the call is remote.
    type Progress = ReturnType<NonNullable<LotteryApi['progress']>>;
    const lottery = this.#options.lottery as { progress?: () => Progress | Promise<Progress> };
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

  /** The connection is gone: no timer runs for it, and the Lottery holds nothing for it. */
  #onClosed(): void {
    this.#clocks.closed();
    this.#stopProgress();
    this.#carryOut(this.#protocol.disconnected());
  }

  #fail(error: unknown): void {
    this.#carryOut(this.#protocol.fail(error));
  }

  #write(frame: Uint8Array): void {
    if (!this.#transport.destroyed) this.#transport.send(frame);
  }

  #close(): void {
    this.#transport.end();
    // A peer that never reads must not keep the connection, or shutdown, waiting.
    this.#clocks.closing(() => this.#transport.destroy());
  }
}
