// The agency's own work on one file, without a server: reading and checking
// the rows (bet-source.ts over fast-csv), then batching and encoding them
// (Batcher, encodeMessage). Prints rows/s for each stage and for both.
//   node bench/agency-read.ts FILE.csv
import { Batcher } from '../src/agency/batcher.ts';
import { readBets } from '../src/agency/bet-source.ts';
import { encodeMessage } from '../src/wire/codec.ts';
import type { WireBet } from '../src/wire/messages.ts';

const file = process.argv[2];
if (file === undefined) {
  console.error('Usage: node bench/agency-read.ts FILE.csv');
  process.exit(2);
}

for (let round = 1; round <= 3; round++) {
  let started = performance.now();
  const bets: WireBet[] = [];
  for await (const bet of readBets(file)) bets.push(bet);
  const readMs = performance.now() - started;

  started = performance.now();
  const batcher = new Batcher(0);
  let offset = 0;
  let bytes = 0;
  const send = (batch: WireBet[] | undefined) => {
    if (batch === undefined) return;
    bytes += encodeMessage({ type: 'BETS', offset, bets: batch }).length;
    offset += batch.length;
  };
  for (const bet of bets) send(batcher.add(bet));
  send(batcher.flush());
  const encodeMs = performance.now() - started;
  const rate = (ms: number) => Math.round((bets.length / ms) * 1000).toLocaleString('en-US').padStart(11);
  console.log(`round ${round}: ${bets.length} bets, ${(bytes / 1e6).toFixed(2)} MB; read ${readMs.toFixed(0).padStart(4)} ms (${rate(readMs)}/s), batch+encode ${encodeMs.toFixed(0).padStart(4)} ms (${rate(encodeMs)}/s)`);
}
