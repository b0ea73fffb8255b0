// The course's dataset as the checks see it: agency-1.csv … agency-N.csv in
// one directory, and what a correct run must end with: every row stored
// once (as bets.csv writes it) and each agency's winners.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WINNING_NUMBER } from '../bets/bet.ts';
import { readStoredRows, startAgency, startServer, type AgencyRun } from './lottery-processes.ts';
import { clientTlsArgs, serverTlsArgs } from './tls-args.ts';

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
    winners.push(
      lines
        .filter((line) => line.endsWith(`,${WINNING_NUMBER}`))
        .map((line) => line.split(',').at(-3)!)
        .sort(),
    );
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
  if (storedRows.length !== dataset.rows.length)
    failures.push(`bets.csv holds ${storedRows.length} rows, the files ${dataset.rows.length}`);
  else if ([...storedRows].sort().join('\n') !== [...dataset.rows].sort().join('\n'))
    failures.push('bets.csv is not the input rows, each exactly once');
  return failures;
}

export type CourseRun = {
  dataset: CourseDataset;
  runs: AgencyRun[];
  storedRows: string[];
  serverCode: number;
  /** From starting the server to the last agency's exit. */
  seconds: number;
  /** What is wrong with the outcome (see courseFailures), and a server that did not exit 0; empty when right. */
  failures: string[];
};

export type CourseRunOptions = {
  serverArgs?: string[];
  agencyArgs?: string[];
  /** A directory made by lottery-pki: the run goes over mutual TLS, each agency with its own certificate. */
  pkiDir?: string;
  /** Another checkout's src/bin: its programs are run (see ProgramOptions). */
  binDir?: string;
};

/**
 * Runs the real programs on the dataset once: a server on a fresh data dir
 * (removed afterwards), agencies 1..N on their files, all at once as soon as
 * the server accepts connections (its `bind` line: it holds them until its
 * Store is open). Checks the outcome against the dataset and times server
 * start to the last agency's exit.
 */
export async function runCourseDataset(dataset: CourseDataset, options: CourseRunOptions = {}): Promise<CourseRun> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lottery-course-'));
  try {
    const started = performance.now();
    const { pkiDir } = options;
    const serverTls = pkiDir === undefined ? [] : serverTlsArgs(pkiDir);
    const agencyTls = (id: number) => (pkiDir === undefined ? [] : clientTlsArgs(pkiDir, `agency-${id}`));
    const server = await startServer(
      ['--data-dir', dataDir, '--agencies', String(dataset.files.length), ...serverTls, ...(options.serverArgs ?? [])],
      { binDir: options.binDir, ready: 'bind' },
    );
    const agencies = dataset.files.map((file, i) =>
      startAgency(i + 1, server.port, ['--data-file', file, ...agencyTls(i + 1), ...(options.agencyArgs ?? [])], {
        binDir: options.binDir,
      }),
    );
    // A server that stops before the agencies are done (it could not open its Store) stops them too.
    void server.exited.then(() => agencies.forEach((agency) => agency.child.kill('SIGTERM')));
    const finished = Promise.all(agencies.map((agency) => agency.result));
    let runs: AgencyRun[];
    let seconds: number;
    try {
      runs = await finished;
      seconds = (performance.now() - started) / 1000;
    } finally {
      // Whatever happened to the agencies, no server is left behind.
      if (server.child.exitCode === null && server.child.signalCode === null) await server.stop();
    }
    const serverCode = await server.exited;
    const storedRows = await readStoredRows(dataDir);
    const failures = courseFailures(dataset, runs, storedRows);
    if (serverCode !== 0) failures.push(`server exited ${serverCode}`);
    return { dataset, runs, storedRows, serverCode, seconds, failures };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}
