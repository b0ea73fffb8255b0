// The agency's own work on one file, without a server: reading, numbering
// and checking the rows (bet-source.ts over csv-rows.ts), then batching and
// encoding them into BETS frames (Batcher). Prints rows/s for each stage and
// CPU µs per row for both; then the same file made into its frames and
// canonical lines from its bytes (plain-file.ts), if it is plain.
//   node bench/agency-read.ts FILE.csv [ROUNDS]
import { Batcher } from '../src/agency/batcher.ts';
import { readFile } from 'node:fs/promises';
import { readBetRows } from '../src/agency/bet-source.ts';
import { plainFileBatches } from '../src/agency/plain-file.ts';
import { todayUtc } from '../src/bets/bet.ts';
import type { WireBet } from '../src/wire/messages.ts';

const file = process.argv[2];
if (file === undefined) {
  console.error('Usage: node bench/agency-read.ts FILE.csv');
  process.exit(2);
}

const rounds = Number(process.argv[3] ?? 5);
for (let round = 1; round <= rounds; round++) {
  const cpuStart = process.cpuUsage();
  let started = performance.now();
  const bets: WireBet[] = [];
  for await (const rows of readBetRows(file)) for (const row of rows) if (row.bet !== undefined) bets.push(row.bet);
  const readMs = performance.now() - started;

  started = performance.now();
  const batcher = new Batcher(0);
  let bytes = 0;
  for (const bet of bets) bytes += batcher.add(bet)?.frame.length ?? 0;
  bytes += batcher.flush()?.frame.length ?? 0;
  const encodeMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuStart);
  const rate = (ms: number) =>
    Math.round((bets.length / ms) * 1000)
      .toLocaleString('en-US')
      .padStart(11);
  console.log(
    `round ${round}: ${bets.length} bets, ${(bytes / 1e6).toFixed(2)} MB; read ${readMs.toFixed(0).padStart(4)} ms (${rate(readMs)}/s), ` +
      `batch+encode ${encodeMs.toFixed(0).padStart(4)} ms (${rate(encodeMs)}/s); CPU ${((cpu.user + cpu.system) / bets.length).toFixed(2)} µs/row`,
  );
  const plainStart = process.cpuUsage();
  started = performance.now();
  const plain = plainFileBatches(await readFile(file), 1, 0, todayUtc());
  const plainMs = performance.now() - started;
  const plainCpu = process.cpuUsage(plainStart);
  console.log(
    plain === undefined
      ? `round ${round}: the file is not plain: read the general way only`
      : `round ${round}: from its bytes ${plainMs.toFixed(0).padStart(4)} ms (${rate(plainMs)}/s), ${plain.batches.length} batches; ` +
          `CPU ${((plainCpu.user + plainCpu.system) / plain.rows).toFixed(2)} µs/row`,
  );
}
