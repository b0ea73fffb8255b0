// Runs the course's dataset end to end through the real programs: one
// server, agencies 1..5 on agency-N.csv from the given directory. Checks that
// bets.csv holds every input row exactly once and that each agency's winners
// are the ones counted here from its own file. Prints the time it took.
// It runs over mutual TLS, with certificates made as lottery-pki makes them
// in a temp dir: the set-up an operator would use.
//   node .ci/course-dataset.ts DIR
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCourseDataset, runCourseDataset } from '../src/harness/course-dataset.ts';
import { makePkiDirectory } from '../src/pki/pki-directory.ts';

const dir = process.argv[2];
if (dir === undefined) {
  console.error('usage: node .ci/course-dataset.ts DIR-WITH-agency-N.csv');
  process.exit(2);
}
const dataset = await readCourseDataset(dir);
const pkiDir = await mkdtemp(join(tmpdir(), 'lottery-course-pki-'));
await makePkiDirectory({
  dir: pkiDir,
  agencies: dataset.files.length,
  hosts: ['localhost', '127.0.0.1'],
  days: 1,
  caDays: 1,
  force: false,
});
const { runs, storedRows, seconds, failures } = await runCourseDataset(dataset, { pkiDir }).finally(() =>
  rm(pkiDir, { recursive: true, force: true }),
);

console.log(`winners per agency: ${runs.map((run) => run.winners?.length ?? '-').join(', ')}; bets.csv: ${storedRows.length} rows`);
console.log(
  `course dataset over mutual TLS: ${dataset.rows.length} bets, ${dataset.files.length} agencies, ${seconds.toFixed(2)} s from server start to the last agency's exit`,
);
if (failures.length > 0) {
  console.error(`course dataset FAILED:\n${failures.join('\n')}`);
  process.exit(1);
}
console.log("course dataset: every row stored exactly once, every agency's winners exact");
