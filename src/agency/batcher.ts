import { packValue } from '../wire/codec.ts';
import { MAX_PAYLOAD_SIZE } from '../wire/frame.ts';
import type { WireBet } from '../wire/messages.ts';

// The BETS payload is {offset, bets: [...]}. Around the bets it takes at most:
// a map header (1), "offset" (7), the largest offset (9), "bets" (5) and an
// array header for up to 65535 bets (3). What is left is for the bets.
const ENVELOPE_BYTES = 1 + 7 + 9 + 5 + 3;
export const BETS_BUDGET = MAX_PAYLOAD_SIZE - ENVELOPE_BYTES;

/**
 * Groups bets into batches of at most `maxAmount` bets (0: no cap) whose
 * BETS frame fits the 8 KiB frame limit. Sizes are the bets' exact msgpack
 * encodings, so every batch is as large as both caps allow: only the last
 * one is short.
 */
export class Batcher {
  readonly #maxAmount: number;
  #bets: WireBet[] = [];
  #bytes = 0;

  constructor(maxAmount: number) {
    if (!Number.isInteger(maxAmount) || maxAmount < 0) throw new TypeError('maxAmount must be a non-negative integer');
    this.#maxAmount = maxAmount;
  }

  /** Adds a bet; returns the batch it completed, if adding it closed one. */
  add(bet: WireBet): WireBet[] | undefined {
    const size = packValue(bet).length;
    if (size > BETS_BUDGET) throw new RangeError('a bet larger than a frame cannot be sent');
    // An amount-full batch is closed as soon as it fills, so at most one
    // batch closes per bet: the one this bet does not fit in, or this one.
    if (this.#bets.length > 0 && this.#bytes + size > BETS_BUDGET) {
      const full = this.flush();
      this.#bets.push(bet);
      this.#bytes = size;
      return full;
    }
    this.#bets.push(bet);
    this.#bytes += size;
    return this.#bets.length === this.#maxAmount ? this.flush() : undefined;
  }

  /** Ends the current batch, possibly short; undefined if it is empty. */
  flush(): WireBet[] | undefined {
    if (this.#bets.length === 0) return undefined;
    const batch = this.#bets;
    this.#bets = [];
    this.#bytes = 0;
    return batch;
  }
}
