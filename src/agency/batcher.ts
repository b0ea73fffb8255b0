import { packValue } from '../wire/codec.ts';
import { HEADER_SIZE, MAX_PAYLOAD_SIZE, writeHeader } from '../wire/frame.ts';
import { MessageType } from '../wire/message-type.ts';
import type { WireBet } from '../wire/messages.ts';

// The BETS payload is {offset, bets: [...]}. Around the bets it takes at most:
// a map header (1), "offset" (7), the largest offset (9), "bets" (5) and an
// array header for up to 65535 bets (3). What is left is for the bets.
const ENVELOPE_BYTES = 1 + 7 + 9 + 5 + 3;
export const BETS_BUDGET = MAX_PAYLOAD_SIZE - ENVELOPE_BYTES;

/**
 * A batch ready to send: its bets, numbered from `offset`, and its whole BETS
 * frame. A batch made from a file's bytes (plain-file.ts) has no bets as
 * values but their canonical lines, which the upload digest is over.
 */
export type BetsBatch = { offset: number; count: number; bets: readonly unknown[][]; frame: Uint8Array; canonical?: Uint8Array };

const MAP_OF_TWO = 0x82;
const KEY_OFFSET = packValue('offset');
const KEY_BETS = packValue('bets');

/**
 * Groups bets into batches of at most `maxAmount` bets (0: no cap) whose
 * BETS frame fits the 8 KiB frame limit, numbering them from `offset`. Each
 * bet is encoded once, as it is added, straight into a buffer kept for the
 * batcher's life; a closed batch is one copy of those bytes behind its
 * header. The bytes are the ones encodeMessage writes (test/batcher.test.ts
 * checks it), so the server reads them on its fast path. Sizes are exact, so
 * every batch is as large as both caps allow: only the last one is short.
 */
export class Batcher {
  readonly #maxAmount: number;
  #scratch = Buffer.allocUnsafe(2 * MAX_PAYLOAD_SIZE);
  /** Where the open batch's encoded bets end in #scratch (they start at 0). */
  #bytes = 0;
  #bets: unknown[][] = [];
  /** The offset of the next bet added. */
  #next: number;

  constructor(maxAmount: number, offset = 0) {
    if (!Number.isInteger(maxAmount) || maxAmount < 0) throw new TypeError('maxAmount must be a non-negative integer');
    this.#maxAmount = maxAmount;
    this.#next = offset;
  }

  /** The offset the next bet will have. */
  get nextOffset(): number {
    return this.#next;
  }

  /** Adds a bet; returns the batch it completed, if adding it closed one. */
  add(bet: WireBet): BetsBatch | undefined {
    const start = this.#bytes;
    const end = this.#write(start, bet);
    const size = end - start;
    if (size > BETS_BUDGET) throw new RangeError('a bet larger than a frame cannot be sent');
    // An amount-full batch is closed as soon as it fills, so at most one
    // batch closes per bet: the one this bet does not fit in, or this one.
    if (this.#bets.length > 0 && end > BETS_BUDGET) {
      const full = this.#close(start, this.#bets);
      this.#next++;
      this.#scratch.copyWithin(0, start, end);
      this.#bytes = size;
      this.#bets = [bet];
      return full;
    }
    this.#next++;
    this.#bytes = end;
    this.#bets.push(bet);
    return this.#bets.length === this.#maxAmount ? this.flush() : undefined;
  }

  /** Ends the current batch, possibly short; undefined if it is empty. */
  flush(): BetsBatch | undefined {
    if (this.#bets.length === 0) return undefined;
    const batch = this.#close(this.#bytes, this.#bets);
    this.#bets = [];
    this.#bytes = 0;
    return batch;
  }

  /**
   * A batch of this one bet alone, whatever it holds, after the open batch
   * (returned first if there is one): for a row this agency thinks the server
   * will refuse, so that the refusal takes no other bet with it.
   */
  alone(bet: readonly unknown[]): BetsBatch[] {
    const open = this.flush();
    const encoded = packValue(bet);
    if (encoded.length > BETS_BUDGET) throw new RangeError('a bet larger than a frame cannot be sent');
    this.#scratch.set(encoded, 0);
    this.#next++;
    const single = this.#close(encoded.length, [[...bet]]);
    return open === undefined ? [single] : [open, single];
  }

  /** The frame of the bets encoded in #scratch up to `end`. */
  #close(end: number, bets: unknown[][], offset = this.#next - bets.length): BetsBatch {
    return { offset, count: bets.length, bets, frame: betsFrame(offset, bets.length, this.#scratch.subarray(0, end)) };
  }

  /** Encodes a bet at `at` in #scratch as msgpack writes it; returns where it ends. */
  #write(at: number, bet: WireBet): number {
    let room = 1 + 9;
    for (let i = 0; i < 4; i++) room += 5 + (bet[i] as string).length * 3;
    if (at + room > this.#scratch.length) this.#grow(at + room);
    const [firstName, lastName, document, birthdate, number] = bet;
    const start = at;
    const target = this.#scratch;
    target[at++] = 0x95;
    if (
      !Number.isInteger(number) ||
      number < 0 ||
      number > 0xffff ||
      (at = writeString(target, at, firstName)) < 0 ||
      (at = writeString(target, at, lastName)) < 0 ||
      (at = writeString(target, at, document)) < 0 ||
      (at = writeString(target, at, birthdate)) < 0
    ) {
      // Rare enough not to matter; msgpackr says how.
      const encoded = packValue(bet);
      if (start + encoded.length > this.#scratch.length) this.#grow(start + encoded.length);
      this.#scratch.set(encoded, start);
      return start + encoded.length;
    }
    if (number < 0x80) {
      target[at++] = number;
    } else if (number < 0x100) {
      target[at++] = 0xcc;
      target[at++] = number;
    } else {
      target[at++] = 0xcd;
      target[at++] = number >> 8;
      target[at++] = number & 0xff;
    }
    return at;
  }

  #grow(size: number): void {
    const larger = Buffer.allocUnsafe(Math.max(size, 2 * this.#scratch.length));
    this.#scratch.copy(larger, 0, 0, this.#bytes);
    this.#scratch = larger;
  }
}

/** The BETS frame of `count` bets from `offset`, whose msgpack encodings are `encodedBets`, one after another. */
export function betsFrame(offset: number, count: number, encodedBets: Uint8Array): Uint8Array {
  const offsetBytes = packValue(offset);
  const arrayHeader = count < 16 ? 1 : 3;
  const payloadLength = 1 + KEY_OFFSET.length + offsetBytes.length + KEY_BETS.length + arrayHeader + encodedBets.length;
  const frame = new Uint8Array(HEADER_SIZE + payloadLength);
  writeHeader(frame, 0, MessageType.BETS, payloadLength);
  let at = HEADER_SIZE;
  frame[at++] = MAP_OF_TWO;
  frame.set(KEY_OFFSET, at);
  at += KEY_OFFSET.length;
  frame.set(offsetBytes, at);
  at += offsetBytes.length;
  frame.set(KEY_BETS, at);
  at += KEY_BETS.length;
  if (count < 16) {
    frame[at++] = 0x90 | count;
  } else {
    frame[at++] = 0xdc;
    frame[at++] = count >> 8;
    frame[at++] = count & 0xff;
  }
  frame.set(encodedBets, at);
  return frame;
}

/**
 * A msgpack string at `at`: fixstr up to 31 bytes, else str8 or str16 (the
 * caller made room); where it ends. -1, and nothing to keep written, for what
 * msgpackr must encode: not a string, too long for a str16, or not one way to
 * write in UTF-8 (a lone surrogate).
 */
function writeString(target: Buffer, at: number, text: unknown): number {
  if (typeof text !== 'string') return -1;
  // Most fields are short ASCII, which is always well formed: copied here,
  // they cost no call into C++.
  if (text.length < 32) {
    let i = 0;
    for (; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) break;
      target[at + 1 + i] = code;
    }
    if (i === text.length) {
      target[at] = 0xa0 | i;
      return at + 1 + i;
    }
  }
  if (text.length > 0x3fff || !text.isWellFormed()) return -1;
  const length = target.write(text, at + 1);
  if (length < 32) {
    target[at] = 0xa0 | length;
    return at + 1 + length;
  }
  if (length < 0x100) {
    target.copyWithin(at + 2, at + 1, at + 1 + length);
    target[at] = 0xd9;
    target[at + 1] = length;
    return at + 2 + length;
  }
  target.copyWithin(at + 3, at + 1, at + 1 + length);
  target[at] = 0xda;
  target[at + 1] = length >> 8;
  target[at + 2] = length & 0xff;
  return at + 3 + length;
}
