// An agency's cost, as CPU time (user + sys, from the kernel through
// /usr/bin/time), with a bare `node -e 0` as the yardstick in the same run:
//   fixed cost  an agency on a file of one bet against an idle server
//               (start, config, connect, HELLO/WELCOME, FINISH, WINNERS, exit;
//               an empty file is refused before it connects)
//   per row     (agency on N rows - agency on one row) / (N - 1)
// Also the wall time from spawning the agency to its `conexion` line (its
// first WELCOME). Rounds are interleaved (node -e 0, one row, N rows, ...) so
// that a busy machine weighs on all three alike; medians are printed.
// With --instructions each process runs under valgrind's callgrind and the
// figures are instructions executed, which another process's load does not
// change (about 50 times slower; one round is enough).
//   node bench/agency-cost.ts [--rows N] [--file FILE.csv] [--rounds R] [--instructions]
// Each agency run gets a fresh lottery-server (--agencies 1, --fsync off,
// its start is not counted) so that its draw answers at once.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { generateBets, writeAgencyFile } from '../src/bets/bet-generator.ts';
import { startServer } from '../src/harness/lottery-processes.ts';
import { median } from './stats.ts';

const TIME = '/usr/bin/time';
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '30000' },
    file: { type: 'string' },
    rounds: { type: 'string' },
    instructions: { type: 'boolean', default: false },
  },
});
const instructions = values.instructions;
if (!existsSync(TIME)) {
  console.error(`agency-cost: needs GNU time at ${TIME} to read a child's CPU time`);
  process.exit(2);
}
const rounds = Number(values.rounds ?? (instructions ? 1 : 7));
const work = await mkdtemp(join(tmpdir(), 'lottery-agency-cost-'));
const oneRow = join(work, 'one-row.csv');
await writeAgencyFile(oneRow, generateBets({ seed: 7, count: 1 }));
let file = values.file;
if (file === undefined) {
  file = join(work, 'rows.csv');
  await writeAgencyFile(file, generateBets({ seed: 7, count: Number(values.rows), winnerRows: [3] }));
}
const rows = (await readFile(file, 'utf8')).split(/\r?\n/).filter((line) => line !== '').length;
const agencyEntry = ['lottery-agency.mjs', 'lottery-agency.ts']
  .map((name) => new URL(`../src/bin/${name}`, import.meta.url).pathname)
  .find((path) => existsSync(path))!;

/** cpuMs is millions of instructions with --instructions. */
type Sample = { cpuMs: number; wallMs: number; welcomeMs?: number };
const CALLGRIND = ['valgrind', '--tool=callgrind', '--callgrind-out-file=/dev/null', '--smc-check=all-non-file'];

/** Runs argv under GNU time (or callgrind); the CPU time (or instructions) and wall time of that process alone. */
async function timed(argv: string[], welcome?: RegExp): Promise<Sample> {
  const out = join(work, 'time.txt');
  const started = performance.now();
  const wrapped = instructions ? [...CALLGRIND, ...argv] : ['-f', '%e %U %S', '-o', out, ...argv];
  const child = spawn(instructions ? wrapped[0] : TIME, instructions ? wrapped.slice(1) : wrapped, { stdio: ['ignore', 'pipe', 'pipe'] });
  let welcomeMs: number | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (welcomeMs === undefined && welcome?.test(line)) welcomeMs = performance.now() - started;
  });
  let collected: number | undefined;
  createInterface({ input: child.stderr! }).on('line', (line) => {
    const match = /Collected : (\d+)/.exec(line);
    if (match) collected = Number(match[1]);
    else if (!instructions) process.stderr.write(`${line}\n`);
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}`);
  const wallMs = performance.now() - started;
  if (instructions) {
    if (collected === undefined) throw new Error('callgrind reported no instruction count');
    return { cpuMs: collected / 1e6, wallMs, welcomeMs };
  }
  const [wall, user, sys] = (await readFile(out, 'utf8')).trim().split('\n').at(-1)!.split(' ').map(Number);
  return { cpuMs: (user + sys) * 1000, wallMs: wall * 1000, welcomeMs };
}

async function agencyRun(dataFile: string): Promise<Sample> {
  const dataDir = await mkdtemp(join(work, 'server-'));
  const server = await startServer(['--data-dir', dataDir, '--agencies', '1', '--fsync', 'off']);
  try {
    const argv = [process.execPath, agencyEntry, '--id', '1', '--server', `127.0.0.1:${server.port}`, '--data-file', dataFile];
    return await timed(argv, /action: conexion \| result: success/);
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const unit = instructions ? 'M instr' : 'ms CPU';
if (instructions && !existsSync('/usr/bin/valgrind')) {
  console.error('agency-cost: --instructions needs valgrind');
  process.exit(2);
}
const bare: Sample[] = [];
const fixed: Sample[] = [];
const full: Sample[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    bare.push(await timed([process.execPath, '-e', '0']));
    fixed.push(await agencyRun(oneRow));
    full.push(await agencyRun(file));
    const cost = (samples: Sample[]) => samples.at(-1)!.cpuMs.toFixed(0);
    process.stderr.write(`round ${round}/${rounds}: node -e 0 ${cost(bare)}, one row ${cost(fixed)}, ${rows} rows ${cost(full)} ${unit}\n`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

const m = (samples: Sample[], key: keyof Sample) => median(samples.map((s) => s[key] ?? NaN));
const bareCpu = m(bare, 'cpuMs');
const bareWall = m(bare, 'wallMs');
const perRowUs = ((m(full, 'cpuMs') - m(fixed, 'cpuMs')) / (rows - 1)) * 1000;
const fmt = (value: number, unit = instructions ? 'M' : 'ms') => `${value.toFixed(0).padStart(5)} ${unit}`;
const ms = (value: number) => fmt(value, 'ms');
const what = instructions ? 'instructions' : 'CPU';
console.log(`agency cost, ${rounds} interleaved round(s), medians (Node ${process.versions.node}, ${rows} rows from ${values.file ?? 'generated bets'})
|                                   | ${what.padEnd(12)} | × node -e 0 |   wall   | × node -e 0 |
|-----------------------------------|-------------:|------------:|---------:|------------:|
| node -e 0                         | ${fmt(bareCpu).padStart(12)} |        1.00 | ${ms(bareWall)} |        1.00 |
| agency, one row (whole run)       | ${fmt(m(fixed, 'cpuMs')).padStart(12)} | ${(m(fixed, 'cpuMs') / bareCpu).toFixed(2).padStart(11)} | ${ms(m(fixed, 'wallMs'))} | ${(m(fixed, 'wallMs') / bareWall).toFixed(2).padStart(11)} |
| agency, start to first WELCOME    |              |             | ${ms(m(fixed, 'welcomeMs'))} | ${(m(fixed, 'welcomeMs') / bareWall).toFixed(2).padStart(11)} |
| agency, ${String(rows).padEnd(6)} rows (whole run)  | ${fmt(m(full, 'cpuMs')).padStart(12)} |             | ${ms(m(full, 'wallMs'))} |             |
per row: ${perRowUs.toFixed(2)} ${instructions ? 'thousand instructions' : 'µs of CPU'} (read, check, batch, encode, send, acknowledgements)${instructions ? ' (wall times under valgrind mean nothing)' : ''}`);
