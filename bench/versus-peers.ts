// This project against other implementations of the same exercise, and
// against other checkouts of itself (an earlier commit, say), on the course
// dataset, in one run: each round runs this project's course run (the real
// lottery-server and five lottery-agency processes, every outcome checked)
// and each competitor once, in an order that rotates from round to round,
// so that a machine that gets busier or quieter weighs on all alike. Prints
// each one's median and range and the ratio of this project's time to each
// competitor's, both as the ratio of medians and as the median of per-round
// ratios.
//   node bench/versus-peers.ts [--runs R] [--peers fdelu,gabokatta] [--checkout DIR ...] [--json]
// The peers are run by a run-peer.sh found in shared/peers/ beside this
// checkout or above it (or PEERS_RUN=path/to/run-peer.sh): it prints
// `NAME median_s=…` after each run. Without it, no peer is timed. A
// checkout DIR runs with its own programs (`bench/bench.ts --mode course
// --runs 1 --json` there) and needs its node_modules, e.g. made with
//   git worktree add --detach ../before <commit> && (cd ../before && npm ci)
// `--peers ''` times the checkouts alone.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readCourseDataset, runCourseDataset } from '../src/harness/course-dataset.ts';
import { datasetDir, findShared } from './course-mode.ts';
import { median } from './stats.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    peers: { type: 'string', default: 'fdelu,gabokatta' },
    checkout: { type: 'string', multiple: true, default: [] },
    json: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`versus-peers: --runs must be a positive integer, got ${values.runs}`);
  process.exit(2);
}

const runPeer = process.env.PEERS_RUN ?? findShared('peers/run-peer.sh');
const peers = runPeer === undefined ? [] : values.peers.split(',').filter((name) => name !== '');
if (runPeer === undefined) console.error('versus-peers: no shared/peers/run-peer.sh found (set PEERS_RUN): timing this project only');

const checkouts = new Map(values.checkout.map((dir) => [`checkout ${resolve(dir)}`, resolve(dir)]));
for (const dir of checkouts.values()) {
  if (!existsSync(join(dir, 'bench', 'bench.ts'))) {
    console.error(`versus-peers: ${dir} has no bench/bench.ts`);
    process.exit(2);
  }
}

const OURS = 'this project';
const names = [OURS, ...peers, ...checkouts.keys()];
const seconds = new Map<string, number[]>(names.map((name) => [name, []]));
const failures: string[] = [];

async function runOnce(name: string, dataset: Awaited<ReturnType<typeof readCourseDataset>>): Promise<number> {
  if (name === OURS) {
    const run = await runCourseDataset(dataset);
    failures.push(...run.failures.map((failure) => `${OURS}: ${failure}`));
    return run.seconds;
  }
  const checkout = checkouts.get(name);
  if (checkout !== undefined) return checkoutCourseRun(name, checkout);
  const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
    execFile(runPeer!, [name, '1'], { maxBuffer: 1 << 20 }, (error, stdout) => (error ? reject(error) : resolve({ stdout }))),
  );
  if (!/check: rows=OK stored_winners=OK/.test(stdout)) failures.push(`${name}: ${stdout.trim().split('\n')[0]}`);
  const match = /median_s=([0-9.]+)/.exec(stdout);
  if (match === null) throw new Error(`${name}: run-peer.sh printed no median_s:\n${stdout}`);
  return Number(match[1]);
}

/** One course run of the checkout at `dir`, with its own programs, in seconds. */
async function checkoutCourseRun(name: string, dir: string): Promise<number> {
  const { stdout, stderr, failed } = await new Promise<{ stdout: string; stderr: string; failed: boolean }>((done) =>
    execFile(
      process.execPath,
      [join(dir, 'bench', 'bench.ts'), '--mode', 'course', '--runs', '1', '--json'],
      { cwd: dir, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => done({ stdout, stderr, failed: error !== null }),
    ),
  );
  if (failed) throw new Error(`${name}: its course run failed:\n${stderr.slice(-2000)}`);
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as { seconds: number; ok: boolean };
  if (!report.ok) failures.push(`${name}: a wrong outcome:\n${stderr.slice(-2000)}`);
  return report.seconds;
}

const { dir, source, cleanup } = await datasetDir(undefined);
const loadBefore = loadavg()[0];
try {
  const dataset = await readCourseDataset(dir);
  for (let round = 0; round < runs; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const s = await runOnce(name, dataset);
      seconds.get(name)!.push(s);
      process.stderr.write(`round ${round + 1}/${runs}: ${name} ${s.toFixed(3)} s\n`);
    }
  }
} finally {
  await cleanup();
}

const ours = seconds.get(OURS)!;
const rows = names.map((name) => {
  const each = seconds.get(name)!;
  const perRound = each.map((s, i) => ours[i] / s);
  return {
    name,
    median: median(each),
    min: Math.min(...each),
    max: Math.max(...each),
    ratioOfMedians: median(ours) / median(each),
    medianOfRatios: median(perRound),
  };
});
const f = (n: number) => n.toFixed(2);
const lines = [
  `course dataset (${source}), server start to the last agency's exit, ${runs} interleaved rounds; ` +
    `${availableParallelism()} cpus (${cpus()[0]?.model.trim()}), load average ${loadBefore.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end; Node ${process.versions.node}`,
  '',
  '| implementation | median s | range s | this project ÷ it (medians) | this project ÷ it (median of rounds) |',
  '|---|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${f(r.median)} | ${f(r.min)}–${f(r.max)} | ${r.name === OURS ? '' : f(r.ratioOfMedians)} | ${r.name === OURS ? '' : f(r.medianOfRatios)} |`,
  ),
];
console.log(lines.join('\n'));
if (failures.length > 0) console.error(`versus-peers: WRONG OUTCOMES\n${failures.join('\n')}`);
if (values.json) console.log(JSON.stringify({ runs, source, rows, failures }));
process.exitCode = failures.length > 0 ? 1 : 0;
