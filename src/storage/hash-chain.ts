// The hash chain over every committed byte of bets.csv (see journal.ts):
// each commit's value is SHA-256 of the previous value followed by the bytes
// that commit appended. Anyone holding bets.csv and its journal can
// recompute it; the draw's log line carries it. Runs on the store worker.
import { createHash, type Hash } from 'node:crypto';

/** The chain's value before the first commit. */
export const CHAIN_START = '0'.repeat(64);

/** A chain link being computed: the previous value, then the bytes appended. */
export function chainLink(previous: string): Hash {
  return createHash('sha256').update(Buffer.from(previous, 'hex'));
}

/** The chain's value after `chunks` are appended to bets.csv at `previous`. */
export function nextChain(previous: string, chunks: readonly Uint8Array[]): string {
  const hash = chainLink(previous);
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}
