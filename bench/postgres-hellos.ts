// HELLOs arriving at a PostgreSQL front-end all at once, as when another
// front-end is lost and its agencies come over: N agencies' HELLOs sent
// together (the store takes every HELLO waiting in one transaction) against
// the same N sent one after the other, each waiting for its own answer (a
// transaction each, which is what every HELLO cost before they were taken
// together). The two alternate, each on a lottery of its own in the same
// database. Prints each round's seconds and the medians' ratio; asserts
// nothing about time.
//   node_modules/.bin/node bench/postgres-hellos.ts --store URL [--hellos 1000] [--rounds 5]
import { parseArgs } from 'node:util';
import { createLogger } from '../src/log/logger.ts';
import { PostgresStore } from '../src/storage/postgres/postgres-store.ts';
import { median } from './stats.ts';

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    hellos: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
  },
});
if (values.store === undefined) {
  process.stderr.write('postgres-hellos: give --store postgres://… (a database the bench may add lotteries to)\n');
  process.exit(2);
}
const url = values.store;
const hellos = Number(values.hellos);
const rounds = Number(values.rounds);
const log = createLogger({ level: 'silent', format: 'text' });
const agencies = Array.from({ length: hellos }, (_, i) => i + 1);

async function timed(lottery: string, together: boolean): Promise<number> {
  const store = await PostgresStore.open({ url, lottery, agencies: hellos, log, listen: false });
  try {
    const started = performance.now();
    if (together) await Promise.all(agencies.map((agency) => store.welcome(agency)));
    else for (const agency of agencies) await store.welcome(agency);
    return (performance.now() - started) / 1000;
  } finally {
    await store.close();
  }
}

const run = `h${Date.now().toString(36)}`;
const seconds = { together: [] as number[], oneByOne: [] as number[] };
for (let round = 1; round <= rounds; round++) {
  // The order alternates, so that neither always runs on a warmer database.
  const order = round % 2 === 1 ? (['together', 'oneByOne'] as const) : (['oneByOne', 'together'] as const);
  for (const kind of order) {
    const s = await timed(`${run}-${kind}-${round}`, kind === 'together');
    seconds[kind].push(s);
    console.log(`round ${round}/${rounds}: ${hellos} HELLOs ${kind === 'together' ? 'at once' : 'one by one'} ${s.toFixed(3)} s`);
  }
}
const together = median(seconds.together);
const oneByOne = median(seconds.oneByOne);
console.log(
  `medians: at once ${together.toFixed(3)} s, one by one ${oneByOne.toFixed(3)} s: ${(together / oneByOne).toFixed(2)}× (${Math.round(hellos / together)} against ${Math.round(hellos / oneByOne)} HELLOs/s)`,
);
