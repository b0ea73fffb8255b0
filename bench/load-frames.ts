// The frames each load agency sends, encoded before any clock starts: the
// same Batcher and encoder as the real agency, so the batches are the same
// size (as many bets as fit 8 KiB) and the server does the same work.
import { Batcher, type BetsBatch } from '../src/agency/batcher.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { uploadDigestOf } from '../src/bets/upload-digest.ts';
import { encodeMessage } from '../src/wire/codec.ts';

export type BetsFrame = { frame: Uint8Array; /** The ACK offset that covers this batch. */ end: number };

export type AgencyFrames = { agency: number; total: number; hello: Uint8Array; bets: BetsFrame[]; finish: Uint8Array };

/** How many of `total` bets agency `agency` (1..agencies) takes: an even split, the first ones one more. */
export function shareOf(total: number, agencies: number, agency: number): number {
  return Math.floor(total / agencies) + (agency <= total % agencies ? 1 : 0);
}

export function encodeAgencyFrames(agency: number, count: number, seed: number): AgencyFrames {
  // Generated per agency, so only one agency's bets are in memory at a time.
  const bets = generateBets({ seed: seed + agency, count });
  const batcher = new Batcher(0);
  const frames: BetsFrame[] = [];
  const push = (batch: BetsBatch | undefined) => {
    if (batch !== undefined) frames.push({ frame: batch.frame, end: batch.offset + batch.count });
  };
  for (const bet of bets) push(batcher.add(bet));
  push(batcher.flush());
  return {
    agency,
    total: count,
    hello: encodeMessage({ type: 'HELLO', agency }),
    bets: frames,
    finish: encodeMessage({ type: 'FINISH', total: count, digest: uploadDigestOf(agency, bets) }),
  };
}

/** `firstAgency`: the agencies are firstAgency.. firstAgency + agencies - 1 (a later phase of a run on the same server). */
export function encodeLoad(totalBets: number, agencies: number, seed: number, firstAgency = 1): AgencyFrames[] {
  return Array.from({ length: agencies }, (_, i) => encodeAgencyFrames(firstAgency + i, shareOf(totalBets, agencies, i + 1), seed));
}

/** Frames and bytes that go to the server, for the report. */
export function loadSize(load: readonly AgencyFrames[]): { frames: number; bytes: number } {
  let frames = 0;
  let bytes = 0;
  for (const agency of load) {
    frames += agency.bets.length + 2;
    bytes += agency.hello.length + agency.finish.length;
    for (const { frame } of agency.bets) bytes += frame.length;
  }
  return { frames, bytes };
}
