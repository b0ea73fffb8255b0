// The hash chain over everything committed (see journal.ts): each commit's
// value is SHA-256 of the previous value, as 32 raw bytes, followed by the
// commit's canonical bytes: the canonical lines of the bets it stored, in
// the order bets.csv has them, then its offsets and finish lines (see
// src/bets/canonical-bet.ts). Anyone holding bets.csv and its journal can
// recompute it; the draw's log line carries it. Runs on the store worker.
import { createHash, type Hash } from 'node:crypto';

/** The chain's value before the first commit. */
export const CHAIN_START = '0'.repeat(64);

/** A chain link being computed: the previous value, then the commit's canonical bytes. */
export function chainLink(previous: string): Hash {
  return createHash('sha256').update(Buffer.from(previous, 'hex'));
}

/** The chain's value after a commit at `previous` whose canonical bytes are `chunks` then `tail`. */
export function nextChain(previous: string, chunks: readonly Uint8Array[], tail: Uint8Array): string {
  const hash = chainLink(previous);
  for (const chunk of chunks) hash.update(chunk);
  return hash.update(tail).digest('hex');
}
