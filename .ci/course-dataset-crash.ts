// The course's dataset with the server killed (SIGKILL) three times during
// the upload and once at the draw, restarted each time on the same data dir:
// every row must still be stored exactly once and every agency's winners
// must be exact.
//   node .ci/course-dataset-crash.ts DIR
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { courseFailures, readCourseDataset } from '../src/harness/course-dataset.ts';
import { crashRun, uploadAndDrawCrashes } from '../src/harness/crash-run.ts';

const dir = process.argv[2];
if (dir === undefined) {
  console.error('usage: node .ci/course-dataset-crash.ts DIR-WITH-agency-N.csv');
  process.exit(2);
}
const dataset = await readCourseDataset(dir);
const result = await crashRun({
  dataDir: await mkdtemp(join(tmpdir(), 'lottery-course-crash-')),
  files: dataset.files,
  // Small batches, so that the upload spans the kills.
  agencyArgs: ['--batch-max-amount', '20'],
  crashes: uploadAndDrawCrashes(dataset.files.length, [20, 300, 900]),
});
const failures = courseFailures(dataset, result.runs, result.storedRows);
if (result.serverCode !== 0) failures.push(`server exited ${result.serverCode}`);
console.log(`course dataset with kill -9: killed ${result.kills.join(', ')}; bets.csv: ${result.storedRows.length} rows`);
if (failures.length > 0) {
  console.error(`course dataset with kill -9 FAILED:\n${failures.join('\n')}`);
  process.exit(1);
}
console.log("course dataset with kill -9: every row stored exactly once, every agency's winners exact");
