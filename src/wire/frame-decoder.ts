import { HEADER_SIZE, MAX_FRAME_SIZE, readHeader, type Frame } from './frame.ts';

/**
 * Turns a byte stream into whole frames. Chunks may split a frame anywhere or
 * carry several frames; both are the normal case on TCP.
 *
 * Memory is bounded by one frame: frames wholly inside a chunk are returned as
 * views into it, and only the unfinished tail is copied into a buffer of at
 * most MAX_FRAME_SIZE bytes, after its header has been checked. A bad header
 * throws ProtocolError; the decoder is then unusable, as the stream is.
 */
export class FrameDecoder {
  /** Allocated on the first frame that arrives in pieces: idle connections hold none. */
  #pending: Uint8Array | undefined;
  #pendingLength = 0;
  /** Payload length of the pending frame once its header is complete, else -1. */
  #pendingPayload = -1;

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.#pendingLength;
  }

  /** Feeds one chunk; returns the frames it completes, in order. */
  push(chunk: Uint8Array): Frame[] {
    return [...this.pushLazily(chunk)];
  }

  /**
   * As push, every header checked now, but each frame made only as it is
   * taken: a 64 KiB chunk of PINGs is 8,192 frames, which, made at once and
   * held while they are handled a few at a time, outlive the young
   * generation and leave the old one full of garbage.
   */
  pushLazily(chunk: Uint8Array): ChunkFrames {
    const completed: Frame[] = [];
    let at = 0;
    if (this.#pendingLength > 0) {
      at = this.#fillPending(chunk, completed);
      if (this.#pendingLength > 0) return new ChunkFrames(completed[0], chunk, at, at, completed.length);
    }
    const from = at;
    let count = completed.length;
    while (chunk.length - at >= HEADER_SIZE) {
      const { length } = readHeader(chunk, at);
      const end = at + HEADER_SIZE + length;
      if (end > chunk.length) break;
      count++;
      at = end;
    }
    const to = at;
    if (at < chunk.length) {
      // What is left is less than one frame; the header is checked as soon as it is whole.
      this.#pendingLength = 0;
      this.#pendingPayload = -1;
      this.#fillPending(chunk.subarray(at), completed);
    }
    return new ChunkFrames(completed[0], chunk, from, to, count);
  }

  /** Moves bytes from `chunk` into the pending frame; returns how many it took. */
  #fillPending(chunk: Uint8Array, frames: Frame[]): number {
    const pending = (this.#pending ??= new Uint8Array(MAX_FRAME_SIZE));
    let taken = 0;
    if (this.#pendingPayload < 0) {
      const want = Math.min(HEADER_SIZE - this.#pendingLength, chunk.length);
      pending.set(chunk.subarray(0, want), this.#pendingLength);
      this.#pendingLength += want;
      taken = want;
      if (this.#pendingLength < HEADER_SIZE) return taken;
      this.#pendingPayload = readHeader(pending, 0).length;
    }
    const total = HEADER_SIZE + this.#pendingPayload;
    const want = Math.min(total - this.#pendingLength, chunk.length - taken);
    pending.set(chunk.subarray(taken, taken + want), this.#pendingLength);
    this.#pendingLength += want;
    taken += want;
    if (this.#pendingLength === total) {
      // Copy out: the pending buffer is reused for the next frame.
      frames.push({ type: pending[3], payload: pending.slice(HEADER_SIZE, total) });
      this.#pendingLength = 0;
      this.#pendingPayload = -1;
    }
    return taken;
  }
}

/** The frames one chunk completes: one finished from earlier chunks, then those wholly inside it, each made as it is taken. */
export class ChunkFrames implements Iterable<Frame> {
  readonly #first: Frame | undefined;
  readonly #chunk: Uint8Array;
  readonly #from: number;
  readonly #to: number;
  /** How many frames. */
  readonly length: number;

  constructor(first: Frame | undefined, chunk: Uint8Array, from: number, to: number, length: number) {
    this.#first = first;
    this.#chunk = chunk;
    this.#from = from;
    this.#to = to;
    this.length = length;
  }

  *[Symbol.iterator](): Iterator<Frame> {
    if (this.#first !== undefined) yield this.#first;
    const chunk = this.#chunk;
    let at = this.#from;
    while (at < this.#to) {
      const { type, length } = readHeader(chunk, at);
      const end = at + HEADER_SIZE + length;
      yield { type, payload: chunk.subarray(at + HEADER_SIZE, end) };
      at = end;
    }
  }
}
