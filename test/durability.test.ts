import test from 'ava';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateBets, writeAgencyFile } from '../src/bets/bet-generator.ts';
import { formatBetRow } from '../src/bets/bets-csv.ts';
import { crashRun } from '../src/harness/crash-run.ts';

const sorted = (rows: string[]) => [...rows].sort();

test('bets survive SIGKILL of the server mid-upload and at the draw, each stored exactly once with exact winners', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-durability-'));
  const agencies = 5;
  const files: string[] = [];
  const expectedRows: string[] = [];
  const expectedWinners: string[][] = [];
  for (let agency = 1; agency <= agencies; agency++) {
    const winnerRows = Array.from({ length: agency }, (_, i) => i * 97 + 13);
    const bets = generateBets({ seed: 100 + agency, count: 600, winnerRows });
    const file = join(dir, `agency-${agency}.csv`);
    await writeAgencyFile(file, bets);
    files.push(file);
    for (const bet of bets) expectedRows.push(formatBetRow(agency, bet).trimEnd());
    expectedWinners.push(winnerRows.map((row) => bets[row][2]).sort());
  }

  const received = /action: apuesta_recibida \| result: success/;
  const result = await crashRun({
    dataDir: join(dir, 'server'),
    files,
    agencyArgs: ['--batch-max-amount', '7'],
    crashes: [
      { name: 'early in the upload', after: received, count: 5 },
      { name: 'mid-upload', after: received, count: 40 },
      { name: 'late in the upload', after: received, count: 80 },
      { name: 'at the draw', after: /action: agencia_finalizada \| result: success .*finalizadas: 5/ },
    ],
  });

  t.deepEqual(result.kills.length, 4);
  t.is(result.serverCode, 0);
  result.runs.forEach((run, i) => t.is(run.code, 0, `agency ${i + 1}:\n${run.lines.slice(-10).join('\n')}`));
  t.deepEqual(sorted(result.storedRows), sorted(expectedRows));
  result.runs.forEach((run, i) => t.deepEqual(sorted(run.winners ?? []), expectedWinners[i], `winners of agency ${i + 1}`));
});
