// Rebuilds each agency's upload digest (see src/bets/upload-digest.ts) from
// bets.csv at start, its rows read back as canonical lines: the digest is a
// running hash, which a journal record cannot hold, so it is recomputed from
// the verified file. Runs on the store worker, during recovery.
import { UploadDigest } from '../bets/upload-digest.ts';

/**
 * Splits canonical lines, given from the first in chunks of any size, into
 * each agency's rows, and feeds every agency's digest its rows in file order
 * (which is offset order). Runs of one agency's rows go in one update.
 */
export class DigestsFromBets {
  readonly #digests: Map<number, UploadDigest>;
  #partial: Buffer = Buffer.alloc(0);

  constructor(digests: Map<number, UploadDigest>) {
    this.#digests = digests;
  }

  add(chunk: Uint8Array): void {
    const bytes = this.#partial.length > 0 ? Buffer.concat([this.#partial, chunk]) : chunk;
    let runStart = 0;
    let runAgency = -1;
    let runRows = 0;
    let at = 0;
    while (at < bytes.length) {
      const newline = bytes.indexOf(0x0a, at);
      if (newline < 0) break;
      const agency = leadingNumber(bytes, at);
      if (agency !== runAgency) {
        this.#feed(runAgency, bytes.subarray(runStart, at), runRows);
        runStart = at;
        runAgency = agency;
        runRows = 0;
      }
      runRows++;
      at = newline + 1;
    }
    this.#feed(runAgency, bytes.subarray(runStart, at), runRows);
    // Copied: the caller reuses its buffer.
    this.#partial = Buffer.from(bytes.subarray(at));
  }

  /** True when the bytes given so far end with a whole row. */
  get ended(): boolean {
    return this.#partial.length === 0;
  }

  #feed(agency: number, rows: Uint8Array, count: number): void {
    if (count === 0) return;
    let digest = this.#digests.get(agency);
    if (digest === undefined) this.#digests.set(agency, (digest = new UploadDigest()));
    digest.add(rows, count);
  }
}

/** The agency id at the start of a canonical line. */
function leadingNumber(bytes: Uint8Array, at: number): number {
  let value = 0;
  for (let i = at; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte < 0x30 || byte > 0x39) break;
    value = value * 10 + (byte - 0x30);
  }
  return value;
}
