#!/usr/bin/env node
// lottery-demo: the whole system on one machine. Makes sample agency files
// in .data/ where there are none (the course's agency-N.csv files dropped
// there are used as they are), runs a server on a fresh data dir and five
// agencies against it, and prints who won.

import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { generateBets, writeAgencyFile } from '../bets/bet-generator.ts';
import { startAgency, startServer } from '../harness/lottery-processes.ts';
import { prepareRuntime } from '../runtime.mjs';

prepareRuntime('lottery-demo');
if (process.argv.includes('--help')) {
  console.log(
    'Usage: lottery-demo\n\nRuns lottery-server and agencies 1..5 on 127.0.0.1 with .data/agency-N.csv\n' +
      '(sample files are made where absent) and prints the winners. Bets go to .data/demo/bets.csv.',
  );
  process.exit(0);
}

const AGENCIES = 5;
const SAMPLE_BETS = 2000;
const DATA = '.data';
const RUN_DIR = `${DATA}/demo`;

await mkdir(DATA, { recursive: true });
for (let agency = 1; agency <= AGENCIES; agency++) {
  const file = `${DATA}/agency-${agency}.csv`;
  if (existsSync(file)) continue;
  // Agency k gets k winners spread through its file.
  const winnerRows = Array.from({ length: agency }, (_, i) => Math.floor(((i + 0.5) * SAMPLE_BETS) / agency));
  await writeAgencyFile(file, generateBets({ seed: agency, count: SAMPLE_BETS, winnerRows }));
  console.log(`lottery-demo: made ${file} (${SAMPLE_BETS} sample bets, ${agency} winners)`);
}
await rm(RUN_DIR, { recursive: true, force: true });

const print = (prefix: string) => (line: string) => console.log(`${prefix} ${line}`);
const server = await startServer(['--data-dir', RUN_DIR, '--agencies', String(AGENCIES)], { onLine: print('[server  ]') });
const agencies = Array.from({ length: AGENCIES }, (_, i) =>
  startAgency(i + 1, server.port, ['--data-file', `${DATA}/agency-${i + 1}.csv`], { onLine: print(`[agency ${i + 1}]`) }),
);
let agenciesDone = false;
void server.exited.then((code) => {
  if (agenciesDone) return;
  console.error(`lottery-demo: the server stopped before the agencies finished (exit ${code})`);
  process.exit(1);
});
const runs = await Promise.all(agencies.map((agency) => agency.result));
agenciesDone = true;
const serverCode = await server.stop();

console.log('\nWinners by agency:');
runs.forEach(({ winners }, i) => {
  const shown = winners === undefined ? 'no answer' : `${winners.length} winner(s)${winners.length ? `: ${winners.join(', ')}` : ''}`;
  console.log(`  agency ${i + 1}: ${shown}`);
});
console.log(`Bets stored in ${RUN_DIR}/bets.csv`);
process.exit(runs.every(({ code }) => code === 0) && serverCode === 0 ? 0 : 1);
