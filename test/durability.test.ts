import test from 'ava';
import { join } from 'node:path';
import { crashRun, uploadAndDrawCrashes } from '../src/harness/crash-run.ts';
import { agencyFiles, sorted } from './helpers/lottery-fixtures.ts';

test('bets survive SIGKILL of the server mid-upload and at the draw, each stored exactly once with exact winners', async (t) => {
  const { dir, files, rows, winners } = await agencyFiles(
    t,
    Array.from({ length: 5 }, (_, i) => ({ count: 600, winnerRows: Array.from({ length: i + 1 }, (_, k) => k * 97 + 13) })),
    100,
  );
  const result = await crashRun({
    dataDir: join(dir, 'server'),
    files,
    agencyArgs: ['--batch-max-amount', '7'],
    crashes: uploadAndDrawCrashes(files.length, [5, 40, 80]),
  });

  t.is(result.kills.length, 4);
  t.is(result.serverCode, 0);
  result.runs.forEach((run, i) => t.is(run.code, 0, `agency ${i + 1}:\n${run.lines.slice(-10).join('\n')}`));
  t.deepEqual(sorted(result.storedRows), sorted(rows));
  result.runs.forEach((run, i) => t.deepEqual(sorted(run.winners ?? []), winners[i], `winners of agency ${i + 1}`));
});
