// The clocks a connection's peer runs against, whatever its messages mean.
// Each bounds what one peer can cost the server in time:
// - the handshake deadline: HELLO must come within the handshake timeout of
//   the connection's start, and what a TLS handshake took already counts;
// - the idle timer: runs only while it is the peer's turn to speak, never
//   while the server works for it or owes it an answer (a held WINNERS);
//   any bytes from the peer start it again;
// - the frame timer: a frame, once begun, must be complete within the frame
//   timeout however slowly its bytes trickle in. It pauses while the server
//   works (the connection is not read then, so the peer cannot send) and
//   resumes with what it had left;
// - the linger: a closing connection gets a while to flush its last frames,
//   then is destroyed, so a peer that never reads keeps neither the
//   connection nor a shutdown waiting.
// The session says whose turn it is and when a frame begins or completes;
// what an expiry means, and what the peer is told, is the session's.

/** How long a closing connection may take to flush its last frames. */
export const LINGER_MS = 2000;

export type PeerClockLimits = {
  handshakeTimeoutMs: number;
  /** What the transport's own handshake (TLS) has already taken of handshakeTimeoutMs. */
  handshakeSpentMs?: number;
  /** How long the peer may keep the server waiting: silent, or not reading its replies. */
  idleTimeoutMs: number;
  /** How long a frame may take to arrive once its first byte has. */
  frameTimeoutMs: number;
};

/** Called when a clock runs out; none is called after closing() or closed(). */
export type PeerClockExpiries = {
  /** No HELLO within the handshake timeout. */
  handshake(): void;
  /** The peer was silent for the idle timeout on its turn. */
  idle(): void;
  /** A begun frame was not complete within the frame timeout. */
  frame(): void;
};

/** A timer as the clocks use it: Node's Timeout, or a test's. */
export type Timer = { refresh(): unknown; unref(): unknown };

/** Where the clocks read the time and set their timers: Node's, or a test's that it winds by hand. */
export type Timekeeper = {
  now(): number;
  setTimeout(expire: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | undefined): void;
};

const NODE_TIME: Timekeeper = {
  now: () => performance.now(),
  setTimeout: (expire, ms) => setTimeout(expire, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

/** Whose turn it is, which decides which clocks run. */
const Turn = {
  /** The server waits on the peer: the idle and the frame clocks run. */
  PEER: 'peer',
  /** The connection is read, but the server owes the peer an answer: only a begun frame's clock runs. */
  SERVER_OWES: 'server-owes',
  /** The server has the peer's frames in hand and does not read: no clock of the peer's runs. */
  SERVER_WORKING: 'server-working',
  /** The connection is not read again: no clock of the peer's runs again. */
  OVER: 'over',
} as const;
type Turn = (typeof Turn)[keyof typeof Turn];

export class PeerClocks {
  readonly #limits: PeerClockLimits;
  readonly #expiries: PeerClockExpiries;
  readonly #time: Timekeeper;
  #turn: Turn = Turn.PEER;
  #handshakeTimer: Timer | undefined;
  #idleTimer: Timer | undefined;
  /** A frame has begun and is not complete yet. */
  #frameBegun = false;
  /** Runs while a begun frame waits for its rest on a turn that counts it. */
  #frameTimer: Timer | undefined;
  /** What the begun frame has left of the frame timeout, as of #frameTimerSince while its timer runs. */
  #frameBudgetMs = 0;
  #frameTimerSince = 0;
  #lingerTimer: Timer | undefined;

  /** The connection starts with the peer's turn: it speaks first, within the handshake timeout. */
  constructor(limits: PeerClockLimits, expiries: PeerClockExpiries, time: Timekeeper = NODE_TIME) {
    this.#limits = limits;
    this.#expiries = expiries;
    this.#time = time;
    this.#startIdleTimer();
    this.#handshakeTimer = time.setTimeout(
      () => {
        this.#handshakeTimer = undefined;
        expiries.handshake();
      },
      Math.max(0, limits.handshakeTimeoutMs - (limits.handshakeSpentMs ?? 0)),
    );
  }

  /** HELLO is accepted: the handshake deadline is met. */
  helloAccepted(): void {
    this.#stopHandshakeTimer();
  }

  /** Bytes came from the peer: it is not idle. */
  traffic(): void {
    this.#idleTimer?.refresh();
  }

  /** A frame has begun: it has the whole frame timeout, counted while the connection is read. */
  frameBegun(): void {
    this.#frameBegun = true;
    this.#stopFrameTimer();
    this.#frameBudgetMs = this.#limits.frameTimeoutMs;
    if (this.#turn === Turn.PEER || this.#turn === Turn.SERVER_OWES) this.#startFrameTimer();
  }

  /** Every frame begun is complete: no frame clock runs. */
  frameComplete(): void {
    this.#frameBegun = false;
    this.#stopFrameTimer();
  }

  /** The server waits on the peer: its silence counts again, from now, and so does a begun frame's time. */
  peersTurn(): void {
    if (this.#turn === Turn.OVER) return;
    this.#turn = Turn.PEER;
    this.#resumeFrameTimer();
    this.#startIdleTimer();
  }

  /** The connection is read, but the server owes the peer an answer: its silence does not count, a begun frame's time does. */
  serverOwes(): void {
    if (this.#turn === Turn.OVER) return;
    this.#turn = Turn.SERVER_OWES;
    this.#stopIdleTimer();
    this.#resumeFrameTimer();
  }

  /** The server works on the peer's frames and does not read: its clocks stop, a begun frame keeping what it has left. */
  serverWorking(): void {
    if (this.#turn === Turn.OVER) return;
    this.#turn = Turn.SERVER_WORKING;
    this.#pause();
  }

  /** The connection is not read again: no clock of the peer's runs again. */
  stop(): void {
    this.#turn = Turn.OVER;
    this.#pause();
  }

  /** The connection closes once what is sent has left: `destroy` is called if that takes longer than LINGER_MS. */
  closing(destroy: () => void): void {
    this.#stopHandshakeTimer();
    this.stop();
    this.#time.clearTimeout(this.#lingerTimer);
    this.#lingerTimer = this.#time.setTimeout(destroy, LINGER_MS);
    // The process may exit meanwhile: the connection goes with it.
    this.#lingerTimer.unref();
  }

  /** The connection is gone: no timer runs for it. */
  closed(): void {
    this.#stopHandshakeTimer();
    this.stop();
    this.#time.clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
  }

  #pause(): void {
    this.#stopIdleTimer();
    if (this.#frameTimer === undefined) return;
    this.#stopFrameTimer();
    this.#frameBudgetMs -= this.#time.now() - this.#frameTimerSince;
  }

  #startIdleTimer(): void {
    this.#time.clearTimeout(this.#idleTimer);
    this.#idleTimer = this.#time.setTimeout(() => {
      this.#idleTimer = undefined;
      this.#expiries.idle();
    }, this.#limits.idleTimeoutMs);
  }

  #stopIdleTimer(): void {
    this.#time.clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #resumeFrameTimer(): void {
    if (this.#frameBegun && this.#frameTimer === undefined) this.#startFrameTimer();
  }

  #startFrameTimer(): void {
    this.#frameTimerSince = this.#time.now();
    this.#frameTimer = this.#time.setTimeout(
      () => {
        this.#frameTimer = undefined;
        this.#expiries.frame();
      },
      Math.max(0, this.#frameBudgetMs),
    );
  }

  #stopFrameTimer(): void {
    this.#time.clearTimeout(this.#frameTimer);
    this.#frameTimer = undefined;
  }

  #stopHandshakeTimer(): void {
    this.#time.clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
  }
}
