// The digest an agency and the server each keep of the agency's upload, so
// that FINISH can prove the server holds exactly the agency's rows (see
// FINISH in src/wire/messages.ts for the definition agencies implement):
// SHA-256 over the agency's stored rows, in offset order, each as its
// canonical line (src/bets/canonical-bet.ts). Rows refused in an INVALID_BET
// batch are stored by nobody and digested by nobody.
//
// It does not depend on batching: the same rows give the same bytes in the
// same order however they were cut into batches or resent after a
// reconnect. It is one running hash, not a sum of per-row hashes: the Store
// feeds it whole batches, at about the cost of reading them once.

import { createHash, type Hash } from 'node:crypto';
import type { WireBet } from '../wire/messages.ts';
import { encodeCanonicalLines } from './canonical-bet.ts';

export class UploadDigest {
  #hash: Hash = createHash('sha256');
  #rows = 0;

  /** Rows digested so far. */
  get rows(): number {
    return this.#rows;
  }

  /** Adds `count` rows, as their canonical lines, after the ones before. */
  add(rows: Uint8Array, count: number): void {
    this.#hash.update(rows);
    this.#rows += count;
  }

  /** The digest of the rows so far, in lowercase hex; the digest goes on. */
  hex(): string {
    return this.#hash.copy().digest('hex');
  }

  copy(): UploadDigest {
    const copy = new UploadDigest();
    copy.#hash = this.#hash.copy();
    copy.#rows = this.#rows;
    return copy;
  }
}

/** The upload digest of no rows: what an agency that stored nothing sends. */
export const EMPTY_UPLOAD_DIGEST = createHash('sha256').digest('hex');

/** The upload digest of `bets`, all stored, for agency `agency`. */
export function uploadDigestOf(agency: number, bets: readonly WireBet[]): string {
  const digest = new UploadDigest();
  digest.add(encodeCanonicalLines(agency, bets), bets.length);
  return digest.hex();
}
