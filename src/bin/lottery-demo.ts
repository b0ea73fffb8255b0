#!/usr/bin/env node
// lottery-demo: the whole system on one machine. Makes sample agency files
// in .data/ where there are none (the course's agency-N.csv files dropped
// there are used as they are), runs a server on a fresh data dir and five
// agencies against it, and prints who won.
//
// Its children never outlive it: SIGTERM or SIGINT stops them first, a
// closed output (`npm start | head`) does too, and if the demo is killed
// outright they notice their parent is gone and stop themselves.
import { onStopSignal, prepareRuntime } from '../runtime.mjs';
prepareRuntime('lottery-demo');

const { existsSync } = await import('node:fs');
const { mkdir, rm } = await import('node:fs/promises');
const { generateBets, writeAgencyFile } = await import('../bets/bet-generator.ts');
const { jsonEvent, startAgency, startServer } = await import('../harness/lottery-processes.ts');
const { clientTlsArgs, serverTlsArgs } = await import('../harness/tls-args.ts');
const { makePkiDirectory } = await import('../pki/pki-directory.ts');
const { LOG_FORMATS, LOG_LEVELS } = await import('../log/logger.ts');
type ChildProcess = import('node:child_process').ChildProcess;

if (process.argv.includes('--help')) {
  console.log(
    'Usage: lottery-demo\n\nRuns lottery-server and agencies 1..5 on 127.0.0.1 with .data/agency-N.csv\n' +
      '(sample files are made where absent) over mutual TLS, with certificates made as lottery-pki makes\n' +
      'them in .data/demo-pki (kept between runs), and prints the winners. Bets go to .data/demo/bets.csv.\n' +
      'LOGGING_LEVEL and LOG_FORMAT choose which of their log lines are shown, and how.',
  );
  process.exit(0);
}

const AGENCIES = 5;
const SAMPLE_BETS = 2000;
const DATA = '.data';
const RUN_DIR = `${DATA}/demo`;
const PKI_DIR = `${DATA}/demo-pki`;
const SIGNAL_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

// The demo follows its children through their info lines (where the server
// listens, each agency's winners), so they always log at info or below; the
// level asked for only chooses which lines are shown.
const LEVEL_RANKS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const TEXT_LEVEL_RANKS: Record<string, number> = { TRACE: 10, DEBUG: 20, INFO: 30, WARNING: 40, ERROR: 50, CRITICAL: 60 };
const level = process.env.LOGGING_LEVEL || 'info';
const format = process.env.LOG_FORMAT || 'text';
for (const [name, value, allowed] of [
  ['LOGGING_LEVEL', level, LOG_LEVELS],
  ['LOG_FORMAT', format, LOG_FORMATS],
] as const) {
  if (!(allowed as readonly string[]).includes(value)) {
    process.stderr.write(`lottery-demo: ${name} must be one of ${allowed.join(', ')}, not '${value}'\n`);
    process.exit(2);
  }
}
const shownFrom = LEVEL_RANKS[level];
const childLogFlags = ['--log-level', shownFrom < LEVEL_RANKS.info ? level : 'info', '--log-format', format];

/** A child's line's level; lines that are not log lines (a stack trace) rank as errors. */
function rankOf(line: string): number {
  const event = jsonEvent(line);
  if (event !== undefined) return LEVEL_RANKS[String(event.level)] ?? 50;
  const name = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (\w+) /.exec(line)?.[1];
  return name === undefined ? 50 : (TEXT_LEVEL_RANKS[name] ?? 50);
}

const children: ChildProcess[] = [];
let stopping: Promise<never> | undefined;
const running = () => children.filter((child) => child.exitCode === null && child.signalCode === null);
/**
 * Stops every child (SIGTERM, then SIGKILL past the server's own shutdown
 * limits) and exits with `code`. Children started meanwhile are stopped too.
 */
function stopAndExit(code: number): Promise<never> {
  stopping ??= (async () => {
    for (let left = running(); left.length > 0; left = running()) {
      const exits = left.map((child) => new Promise((resolve) => child.once('close', resolve)));
      for (const child of left) child.kill('SIGTERM');
      const killer = setTimeout(() => left.forEach((child) => child.kill('SIGKILL')), 15_000);
      await Promise.all(exits);
      clearTimeout(killer);
    }
    process.exit(code);
  })();
  return stopping;
}
onStopSignal((signal, count) => {
  if (count > 1) {
    for (const child of children) child.kill('SIGKILL');
    process.exit(SIGNAL_CODES[signal]);
  }
  process.stderr.write(`lottery-demo: ${signal}: stopping the server and the agencies\n`);
  void stopAndExit(SIGNAL_CODES[signal]);
});

// Once the reader of our output has gone (`npm start | head -5`), there is
// no one to show the run to: stop everything.
let outputClosed = false;
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  outputClosed = true;
  void stopAndExit(0);
});
const say = (text: string) => {
  if (!outputClosed) process.stdout.write(`${text}\n`);
};
const print = (prefix: string) => (line: string) => {
  if (rankOf(line) >= shownFrom) say(`${prefix} ${line}`);
};

async function run(): Promise<number> {
  await mkdir(DATA, { recursive: true });
  for (let agency = 1; agency <= AGENCIES; agency++) {
    const file = `${DATA}/agency-${agency}.csv`;
    if (existsSync(file)) continue;
    // Agency k gets k winners spread through its file.
    const winnerRows = Array.from({ length: agency }, (_, i) => Math.floor(((i + 0.5) * SAMPLE_BETS) / agency));
    await writeAgencyFile(file, generateBets({ seed: agency, count: SAMPLE_BETS, winnerRows }));
    say(`lottery-demo: made ${file} (${SAMPLE_BETS} sample bets, ${agency} winners)`);
  }
  await rm(RUN_DIR, { recursive: true, force: true });
  const pki = await makePkiDirectory({
    dir: PKI_DIR,
    agencies: AGENCIES,
    hosts: ['localhost', '127.0.0.1'],
    days: 825,
    caDays: 3650,
    force: false,
  });
  if (pki.made.length > 0) say(`lottery-demo: made ${pki.made.join(' ')} in ${PKI_DIR} (as lottery-pki --out ${PKI_DIR} does)`);
  if (stopping) return stopping;

  const server = await startServer(['--data-dir', RUN_DIR, '--agencies', String(AGENCIES), ...serverTlsArgs(PKI_DIR), ...childLogFlags], {
    onLine: print('[server  ]'),
    onSpawn: (child) => children.push(child),
  });
  if (stopping) return stopping;
  const agencies = Array.from({ length: AGENCIES }, (_, i) =>
    startAgency(
      i + 1,
      server.port,
      ['--data-file', `${DATA}/agency-${i + 1}.csv`, ...clientTlsArgs(PKI_DIR, `agency-${i + 1}`), ...childLogFlags],
      { onLine: print(`[agency ${i + 1}]`) },
    ),
  );
  children.push(...agencies.map((agency) => agency.child));
  let agenciesDone = false;
  void server.exited.then((code) => {
    if (agenciesDone || stopping) return;
    process.stderr.write(`lottery-demo: the server stopped before the agencies finished (exit ${code})\n`);
    void stopAndExit(1);
  });
  const runs = await Promise.all(agencies.map((agency) => agency.result));
  if (stopping) return stopping;
  agenciesDone = true;
  const serverCode = await server.stop();

  say('\nWinners by agency:');
  runs.forEach(({ winners }, i) => {
    const count = winners === undefined ? 0 : winners.length;
    const shown =
      winners === undefined ? 'no answer' : `${count} ${count === 1 ? 'winner' : 'winners'}${count > 0 ? `: ${winners.join(', ')}` : ''}`;
    say(`  agency ${i + 1}: ${shown}`);
  });
  say(`Bets stored in ${RUN_DIR}/bets.csv`);
  return runs.every(({ code }) => code === 0) && serverCode === 0 ? 0 : 1;
}

// While stopping, a child that dies under the run (the server before it
// listens) is expected: the exit code is the stop's.
run().then(
  (code) => process.exit(code),
  (error: Error) => {
    if (stopping) return;
    process.stderr.write(`lottery-demo: ${error.message}\n`);
    void stopAndExit(1);
  },
);
