// Runs the course's dataset end to end through the real programs: one
// server, agencies 1..5 on agency-N.csv from the given directory. Checks that
// bets.csv holds every input row exactly once and that each agency's winners
// are the ones counted here from its own file. Prints the time it took.
//   node .ci/course-dataset.ts DIR
import { readFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgency, startServer } from '../src/harness/lottery-processes.ts';

const dir = process.argv[2];
if (dir === undefined) {
  console.error('usage: node .ci/course-dataset.ts DIR-WITH-agency-N.csv');
  process.exit(2);
}
const AGENCIES = 5;
const dataDir = await mkdtemp(join(tmpdir(), 'lottery-course-'));

const expectedRows: string[] = [];
const expectedWinners = new Map<number, string[]>();
for (let agency = 1; agency <= AGENCIES; agency++) {
  const lines = (await readFile(join(dir, `agency-${agency}.csv`), 'utf8')).split(/\r?\n/).filter((line) => line !== '');
  expectedWinners.set(agency, lines.filter((line) => line.endsWith(',7574')).map((line) => line.split(',').at(-3)!));
  for (const line of lines) expectedRows.push(`${agency},${line}`);
}

const started = performance.now();
const server = await startServer(['--data-dir', dataDir, '--agencies', String(AGENCIES)]);
const runs = await Promise.all(
  Array.from({ length: AGENCIES }, (_, i) => startAgency(i + 1, server.port, ['--data-file', join(dir, `agency-${i + 1}.csv`)]).result),
);
const seconds = (performance.now() - started) / 1000;
const serverCode = await server.stop();

const failures: string[] = [];
if (serverCode !== 0) failures.push(`server exited ${serverCode}`);
runs.forEach((run, i) => {
  const agency = i + 1;
  if (run.code !== 0) failures.push(`agency ${agency} exited ${run.code}:\n${run.lines.slice(-5).join('\n')}`);
  const want = [...expectedWinners.get(agency)!].sort();
  const got = [...(run.winners ?? [])].sort();
  if (want.join() !== got.join()) failures.push(`agency ${agency}: winners ${got.join(',')} but its file has ${want.join(',')}`);
  else console.log(`agency ${agency}: ${got.length} winner(s), as in its file`);
});
const stored = (await readFile(join(dataDir, 'bets.csv'), 'utf8')).split('\n').filter((line) => line !== '');
if (stored.length !== expectedRows.length) failures.push(`bets.csv holds ${stored.length} rows, the files ${expectedRows.length}`);
if ([...stored].sort().join('\n') !== [...expectedRows].sort().join('\n')) failures.push('bets.csv is not the input rows, each exactly once');
else console.log(`bets.csv: ${stored.length} rows, each input row exactly once`);

console.log(`course dataset: ${expectedRows.length} bets, ${AGENCIES} agencies, ${seconds.toFixed(2)} s from server start to the last agency's exit`);
if (failures.length > 0) {
  console.error(`course dataset FAILED:\n${failures.join('\n')}`);
  process.exit(1);
}
