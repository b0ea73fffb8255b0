// Times the draw: the real Store on a temporary data dir filled with
// N generated bets (fsync off while filling), then a restart's recovery,
// which reads bets.csv once to check the chain and finds the winners again,
// then Store.draw, which draws from the winners found among what was
// committed. Checks it finds exactly the winners the bets carry.
//   node bench/draw.ts [BETS]   (default 10000000)
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BETS_FILE, Store } from '../src/actors/store.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { UploadDigest } from '../src/bets/upload-digest.ts';
import { createLogger } from '../src/log/logger.ts';

const total = Number(process.argv[2] ?? 10_000_000);
const AGENCIES = 10;
const CHUNK = 100_000;
if (!Number.isSafeInteger(total) || total < AGENCIES) {
  console.error(`Usage: node bench/draw.ts [BETS], BETS a whole number of at least ${AGENCIES}`);
  process.exit(2);
}

const dataDir = await mkdtemp(join(tmpdir(), 'lottery-draw-'));
try {
  const log = createLogger({ level: 'warn', format: 'text' });
  const filling = await Store.open({ dataDir, fsync: false, log });
  // Each chunk of an agency's stream: the same generated bets with one winner, at a row of its own.
  let expected = 0;
  let started = performance.now();
  for (let agency = 1; agency <= AGENCIES; agency++) {
    const digest = new UploadDigest();
    // The bets shared out as evenly as they go: the first agencies take one more when they do not divide.
    const perAgency = Math.floor(total / AGENCIES) + (agency <= total % AGENCIES ? 1 : 0);
    for (let offset = 0; offset < perAgency; offset += CHUNK) {
      const count = Math.min(CHUNK, perAgency - offset);
      const rows = encodeCanonicalLines(
        agency,
        generateBets({ seed: agency * 1000 + offset / CHUNK, count, winnerRows: [Math.min(agency, count - 1)] }),
      );
      expected++;
      digest.add(rows, count);
      const outcome = await filling.append({ agency, offset, count, rows });
      if (outcome.status !== 'stored') throw new Error(`append ${agency}@${offset}: ${JSON.stringify(outcome)}`);
    }
    const finished = await filling.finish(agency, perAgency, digest.hex());
    if (finished.status !== 'finished') throw new Error(`finish ${agency}: ${JSON.stringify(finished)}`);
  }
  await filling.close();
  const size = (await stat(join(dataDir, BETS_FILE))).size;
  console.log(
    `draw: ${total.toLocaleString('en-US')} bets stored (${(size / 1e6).toFixed(0)} MB) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  started = performance.now();
  const store = await Store.open({ dataDir, fsync: false, log });
  const recovered = (performance.now() - started) / 1000;
  console.log(
    `draw: recovery read and checked them in ${recovered.toFixed(2)} s (${Math.round(total / recovered).toLocaleString('en-US')} bets/s)`,
  );
  started = performance.now();
  const { winners } = await store.draw(AGENCIES);
  const seconds = (performance.now() - started) / 1000;
  const found = Object.values(winners).reduce((sum, documents) => sum + documents.length, 0);
  console.log(
    `draw: ${seconds.toFixed(2)} s over ${total.toLocaleString('en-US')} bets (${Math.round(total / seconds).toLocaleString('en-US')} bets/s), ${found} winners, expected ${expected}: ${found === expected ? 'OK' : 'WRONG'}`,
  );
  await store.close();
  process.exitCode = found === expected ? 0 : 1;
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
