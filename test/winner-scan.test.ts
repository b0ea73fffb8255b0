import test from 'ava';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WINNING_NUMBER } from '../src/bets/bet.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { encodeBetRows } from '../src/bets/bets-csv.ts';
import { scanWinners, type WinningRow } from '../src/storage/winner-scan.ts';
import { csvRecords } from './helpers/csv-records.ts';
import { tempDir } from './helpers/lottery-fixtures.ts';

/** The winners as a general CSV parser reads them: the reference. */
async function winnersByParsing(path: string): Promise<WinningRow[]> {
  const records = await csvRecords(await readFile(path, 'utf8'));
  return records.filter((row) => row[5] === String(WINNING_NUMBER)).map((row) => ({ agency: Number(row[0]), document: row[3] }));
}

async function scan(path: string, end?: number): Promise<WinningRow[]> {
  const rows: WinningRow[] = [];
  await scanWinners(path, end ?? (await stat(path)).size, WINNING_NUMBER, (row) => rows.push(row));
  return rows;
}

test('finds exactly the winners a CSV parser finds, across chunk boundaries, in file order', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'bets.csv');
  const parts: Uint8Array[] = [];
  // Over 4 MiB, so lines straddle the scanner's reads; winners every 997 rows.
  for (let agency = 1; agency <= 4; agency++) {
    const bets = generateBets({ seed: agency, count: 25_000, winnerRows: Array.from({ length: 25 }, (_, i) => i * 997 + agency) });
    parts.push(encodeBetRows(agency, bets));
  }
  await writeFile(path, Buffer.concat(parts));
  const expected = await winnersByParsing(path);
  t.is(expected.length, 100);
  t.deepEqual(await scan(path), expected);
});

test('is not fooled by names that quote a comma and the winning number', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'bets.csv');
  const rows = encodeBetRows(2, [
    ['Ana ,7574', '"Pérez", 7574', '111', '1990-01-01', 7574],
    ['Juan,7574', 'Gómez', '222', '1991-02-02', 1234],
    ['Luz', 'Díaz,7574', '333', '1992-03-03', 7574],
  ]);
  await writeFile(path, rows);
  t.deepEqual(await scan(path), [
    { agency: 2, document: '111' },
    { agency: 2, document: '333' },
  ]);
  t.deepEqual(await scan(path), await winnersByParsing(path));
});

test('reads only the committed bytes it is given', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'bets.csv');
  const committed = encodeBetRows(1, [['Eva', 'Ríos', '1', '1980-01-01', 7574]]);
  await writeFile(path, Buffer.concat([committed, Buffer.from('1,Tom,Paz,2,1981-01-01,7574\n')]));
  t.deepEqual(await scan(path, committed.length), [{ agency: 1, document: '1' }]);
});
