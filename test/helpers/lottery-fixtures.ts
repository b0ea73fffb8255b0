// Fixtures for the integration tests that run the real programs: a temp dir
// removed after the test, a server and agencies that are stopped or killed
// whatever the test's outcome, and generated agency files with the rows
// bets.csv must end up holding and the winners each agency must get.
import type { ExecutionContext } from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateBets, writeAgencyFile } from '../../src/bets/bet-generator.ts';
import { startAgency, startServer, type ProgramOptions, type RunningServer } from '../../src/harness/lottery-processes.ts';
import type { WireBet } from '../../src/wire/messages.ts';

/** Generous: a guard against hanging on a busy machine, never a timing assertion. */
export const GUARD_MS = 60_000;

/** A fresh directory under the OS temp dir, removed once the test is over. */
export async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-it-'));
  // Registered first, so it runs last: after the processes using it are gone.
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const running = (child: { exitCode: number | null; signalCode: string | null }) => child.exitCode === null && child.signalCode === null;

/** lottery-server on 127.0.0.1, a port the kernel picks and `dataDir`; stopped with SIGTERM after the test. */
export async function serverFor(
  t: ExecutionContext,
  dataDir: string,
  args: string[] = [],
  options: ProgramOptions = {},
): Promise<RunningServer> {
  const server = await startServer(['--data-dir', dataDir, ...args], { startTimeoutMs: GUARD_MS, ...options });
  t.teardown(async () => {
    if (running(server.child)) await server.stop();
  });
  return server;
}

/** lottery-agency against `port`; killed after the test if it is still running. */
export function agencyFor(t: ExecutionContext, id: number, port: number, args: string[] = [], options: ProgramOptions = {}) {
  const agency = startAgency(id, port, args, options);
  t.teardown(() => {
    if (running(agency.child)) agency.child.kill('SIGKILL');
  });
  return agency;
}

export type AgencyInput = {
  id: number;
  file: string;
  bets: WireBet[];
  /** The rows of the input file, each prefixed with the agency id: what bets.csv must hold for it. */
  rows: string[];
  /** The documents of the bets placed as winners, sorted. */
  winners: string[];
};

export type AgencySpec = { count: number; winnerRows?: number[] };

/** Writes one generated file per agency (ids 1..n) into `dir`. */
export async function writeAgencies(dir: string, spec: readonly AgencySpec[], seed = 1): Promise<AgencyInput[]> {
  const inputs: AgencyInput[] = [];
  for (const [i, { count, winnerRows = [] }] of spec.entries()) {
    const id = i + 1;
    const bets = generateBets({ seed: seed * 1000 + id, count, winnerRows });
    const file = join(dir, `agency-${id}.csv`);
    await writeAgencyFile(file, bets);
    const rows = (await inputLines(file)).map((line) => `${id},${line}`);
    inputs.push({ id, file, bets, rows, winners: sorted(winnerRows.map((row) => bets[row][2])) });
  }
  return inputs;
}

/** The non-empty lines of an input file, without BOM or line endings. */
export async function inputLines(file: string): Promise<string[]> {
  const text = (await readFile(file, 'utf8')).replace(/^\uFEFF/, '');
  return text.split(/\r?\n/).filter((line) => line !== '');
}

/** The rows of `dataDir/bets.csv`; fails the test if the last row is not whole. */
export async function storedRows(t: ExecutionContext, dataDir: string): Promise<string[]> {
  const text = await readFile(join(dataDir, 'bets.csv'), 'utf8');
  if (text !== '') t.true(text.endsWith('\n'), 'bets.csv ends with a whole row');
  return text.split('\n').filter((line) => line !== '');
}

export const sorted = (items: readonly string[]) => [...items].sort();

/** The `cantidad` of each successful apuesta_recibida line the server logged for `agency`, in order. */
export function storedBatches(lines: readonly string[], agency: number): number[] {
  const pattern = new RegExp(`action: apuesta_recibida \\| result: success \\| agencia: ${agency} \\| cantidad: (\\d+)`);
  return lines.flatMap((line) => {
    const match = pattern.exec(line);
    return match ? [Number(match[1])] : [];
  });
}

/** Resolves when `promise` does, or rejects after `ms`: a guard, not an assertion about time. */
export function within<T>(promise: Promise<T>, what: string, ms = GUARD_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/**
 * Resolves once `holds` is true, checked every `everyMs`; rejects once `ms`
 * has passed. Only for what no event tells, such as another process's exit.
 */
export async function pollUntil(
  holds: () => boolean | Promise<boolean>,
  what: string,
  { everyMs = 100, ms = GUARD_MS } = {},
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await holds())) {
    if (performance.now() >= deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(everyMs);
  }
}

/** Generated files for agencies 1..n in a fresh temp dir, with what must end up stored and won, gathered. */
export async function agencyFiles(t: ExecutionContext, spec: readonly AgencySpec[], seed = 1) {
  const dir = await tempDir(t);
  const inputs = await writeAgencies(dir, spec, seed);
  return {
    dir,
    files: inputs.map((input) => input.file),
    rows: inputs.flatMap((input) => input.rows),
    winners: inputs.map((input) => input.winners),
  };
}
