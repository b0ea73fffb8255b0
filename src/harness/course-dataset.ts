// The course's dataset as the checks see it: agency-1.csv … agency-N.csv in
// one directory, and what a correct run must end with: every row stored
// once (as bets.csv writes it) and each agency's winners.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WINNING_NUMBER } from '../bets/bet.ts';
import type { AgencyRun } from './lottery-processes.ts';

export type CourseDataset = { files: string[]; rows: string[]; winners: string[][] };

/** Reads the files the plain way (one bet per line, no quoting in the course's data) to have an independent reference. */
export async function readCourseDataset(dir: string, agencies = 5): Promise<CourseDataset> {
  const files: string[] = [];
  const rows: string[] = [];
  const winners: string[][] = [];
  for (let agency = 1; agency <= agencies; agency++) {
    const file = join(dir, `agency-${agency}.csv`);
    const lines = (await readFile(file, 'utf8')).split(/\r?\n/).filter((line) => line !== '');
    files.push(file);
    for (const line of lines) rows.push(`${agency},${line}`);
    winners.push(lines.filter((line) => line.endsWith(`,${WINNING_NUMBER}`)).map((line) => line.split(',').at(-3)!).sort());
  }
  return { files, rows, winners };
}

/** What is wrong with a run's outcome against the dataset; empty when it is right. */
export function courseFailures(dataset: CourseDataset, runs: AgencyRun[], storedRows: string[]): string[] {
  const failures: string[] = [];
  runs.forEach((run, i) => {
    if (run.code !== 0) failures.push(`agency ${i + 1} exited ${run.code}:\n${run.lines.slice(-5).join('\n')}`);
    const got = [...(run.winners ?? [])].sort();
    if (got.join() !== dataset.winners[i].join()) {
      failures.push(`agency ${i + 1}: winners ${got.join(',')} but its file has ${dataset.winners[i].join(',')}`);
    }
  });
  if (storedRows.length !== dataset.rows.length) failures.push(`bets.csv holds ${storedRows.length} rows, the files ${dataset.rows.length}`);
  else if ([...storedRows].sort().join('\n') !== [...dataset.rows].sort().join('\n')) failures.push('bets.csv is not the input rows, each exactly once');
  return failures;
}
