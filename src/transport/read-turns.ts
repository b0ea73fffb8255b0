// Flow control of a connection's reads: what one peer can make the server
// hold or spend at once is bounded.
// - The frames of one read are handled together, one at a time through the
//   actor's mailbox, with the transport paused: what the peer sends
//   meanwhile waits in the kernel, not in memory.
// - They are handled at most TURN_BYTES or TURN_FRAMES at a time, whichever
//   comes first, yielding to the worker's other connections between turns:
//   a frame costs work whatever its size (a PING is answered with a write),
//   so a flood of tiny frames gets no more turns than a few big ones.
// - No frame is handled, and the connection is not read, while the peer's
//   unsent replies fill the write buffer (a socket's high-water mark, 64
//   KiB); a peer that leaves them unread for the idle timeout is cut off: it
//   cannot be told, it is not reading.
// - The connection is read again only once every answer owed for the read's
//   frames is out (a slow Store slows the agency down instead of filling
//   memory) and the peer has taken its replies.
// What a frame means is the handler's.

import { setImmediate as nextTurn } from 'node:timers/promises';
import { HEADER_SIZE, MAX_FRAME_SIZE, type Frame } from '../wire/frame.ts';
import type { Transport } from './transport.ts';

/** Frame bytes handled in one turn of the worker's event loop before other connections get theirs. */
export const TURN_BYTES = 4 * MAX_FRAME_SIZE;

/** Frames handled in one turn, however small: 4,096 PINGs fit TURN_BYTES, and each is a reply to write. */
export const TURN_FRAMES = 64;

export type ReadTurnsOptions = {
  transport: Pick<Transport, 'pause' | 'resume' | 'full' | 'drained' | 'destroy' | 'destroyed'>;
  /** Runs the reads one at a time, in order: the actor's mailbox. */
  mailbox: { post(work: () => Promise<void>): unknown };
  /** Handles one frame; the next waits for it. */
  handle(frame: Frame): Promise<void>;
  /** Settles once every answer owed for the frames handled so far is out (the Store's, say). */
  answered(): Promise<void>;
  /** The connection is closing: no more of its frames are handled, and it is not read again. */
  closing(): boolean;
  /** How long the peer may leave its replies unread. */
  idleTimeoutMs: number;
  /** Settles once the connection is closed: nothing is waited for on it any more. */
  closed: Promise<void>;
  /** The peer has left its replies unread for the idle timeout: it is cut off (destroyed) right after. */
  unread(): void;
  /** A read is handled and the connection is about to be read again. */
  readAgain(): void;
};

/** Frames of one chunk: an array, or frames made as they are taken (FrameDecoder.pushLazily). */
export type ReadFrames = Iterable<Frame> & { readonly length: number };

export class ReadTurns {
  readonly #options: ReadTurnsOptions;
  /** Frames received this tick and not yet handed to #handleRead. */
  #gathered: ReadFrames[] | undefined;
  /** Frames of a read in hand: the server is working for the peer. */
  #inHand = false;
  /** Set by stop(), or when the peer is cut off: the connection is not read again. */
  #stopped = false;

  constructor(options: ReadTurnsOptions) {
    this.#options = options;
  }

  /** A read's frames are in hand: the server works for the peer, and the connection is not read. */
  get inHand(): boolean {
    return this.#inHand;
  }

  /** Takes the frames decoded from a chunk; says whether a read is now in hand. */
  take(frames: ReadFrames): boolean {
    if (this.#gathered !== undefined) {
      // More of the same read, delivered before it is handled (a TLS stream
      // gives each record of one socket read on its own): handled with it.
      if (frames.length > 0) this.#gathered.push(frames);
      return true;
    }
    if (frames.length === 0) return false;
    this.#gathered = [frames];
    this.#inHand = true;
    // Runs before this tick ends: the transport is paused within the tick.
    void this.#options.mailbox.post(() => {
      const gathered = this.#gathered!;
      this.#gathered = undefined;
      this.#options.transport.pause();
      return this.#handleRead(gathered);
    });
    return true;
  }

  /** The connection is not read again; the frame in hand is finished, the rest of its read dropped. */
  stop(): void {
    this.#stopped = true;
    this.#options.transport.pause();
  }

  #over(): boolean {
    return this.#stopped || this.#options.closing();
  }

  /**
   * Handles the frames of one read, a fair share at a time, then reads again
   * once every answer is out and the peer has taken its replies.
   */
  async #handleRead(reads: ReadFrames[]): Promise<void> {
    let turn = 0;
    let turnFrames = 0;
    for (const frame of framesOf(reads)) {
      if (this.#over()) break;
      if (turn >= TURN_BYTES || turnFrames >= TURN_FRAMES) {
        // The worker's other connections get a turn.
        await nextTurn();
        turn = 0;
        turnFrames = 0;
      }
      await this.#options.handle(frame);
      turn += HEADER_SIZE + frame.payload.length;
      turnFrames++;
      await this.#drained();
    }
    await this.#options.answered();
    await this.#drained();
    this.#inHand = false;
    if (this.#over()) return;
    this.#options.readAgain();
    this.#options.transport.resume();
  }

  /**
   * Waits until the peer has read enough of its replies; a peer that has not
   * within the idle timeout is cut off: it cannot be told, it is not reading.
   */
  async #drained(): Promise<void> {
    const { transport, idleTimeoutMs, closed } = this.#options;
    if (!transport.full || transport.destroyed) return;
    try {
      await Promise.race([transport.drained(AbortSignal.timeout(idleTimeoutMs)), closed]);
    } catch {
      if (transport.destroyed) return;
      this.#stopped = true;
      this.#options.unread();
      transport.destroy();
    }
  }
}

/** The frames of a read's chunks, in order, each made as it is taken. */
function* framesOf(reads: readonly ReadFrames[]): Generator<Frame> {
  for (const frames of reads) yield* frames;
}
