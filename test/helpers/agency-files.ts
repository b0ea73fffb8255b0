// Agency files for tests: generated bets written to a temp dir, with the
// rows bets.csv must end up holding and the winners each agency must get.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateBets, writeAgencyFile } from '../../src/bets/bet-generator.ts';
import { formatBetRow } from '../../src/bets/bets-csv.ts';

export type AgencyFiles = { dir: string; files: string[]; rows: string[]; winners: string[][] };

export async function makeAgencyFiles(spec: Array<{ count: number; winnerRows?: number[] }>, seed = 1): Promise<AgencyFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-test-'));
  const files: string[] = [];
  const rows: string[] = [];
  const winners: string[][] = [];
  for (const [i, { count, winnerRows = [] }] of spec.entries()) {
    const agency = i + 1;
    const bets = generateBets({ seed: seed * 1000 + agency, count, winnerRows });
    const file = join(dir, `agency-${agency}.csv`);
    await writeAgencyFile(file, bets);
    files.push(file);
    for (const bet of bets) rows.push(formatBetRow(agency, bet).trimEnd());
    winners.push(winnerRows.map((row) => bets[row][2]).sort());
  }
  return { dir, files, rows, winners };
}

export const sorted = (items: readonly string[]) => [...items].sort();
