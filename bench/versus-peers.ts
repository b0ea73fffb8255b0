// This project against other implementations of the same exercise, and
// against other checkouts of itself (an earlier commit, say), on the course
// dataset, in one run: each round runs this project's course run (the real
// lottery-server and five lottery-agency processes, every outcome checked)
// and each competitor once, in an order that rotates from round to round,
// so that a machine that gets busier or quieter weighs on all alike. Prints
// each one's median wall time and CPU time and the ratios of this project's
// to each competitor's, both as the ratio of medians and as the median of
// per-round ratios.
//   node bench/versus-peers.ts [--runs R] [--peers fdelu,gabokatta] [--checkout DIR ...] [--tls] [--json]
// --tls also runs this project over mutual TLS (certificates made once, as
// lottery-pki makes them) in each round, and prints its ratios to each
// competitor (which run as they are: the peers speak plaintext).
// CPU is user + system time of the implementation's own processes alone
// (server, its workers or worker processes, agencies), from the kernel's
// count for this process's reaped children before and after each run: every
// program is spawned from here, with no shell or helper in between.
// The peers are run as shared/peers/run-peer.sh runs them (bench/peer-run.ts),
// from the trees shared/peers/build-peers.sh makes in PEERS_DIR (/tmp/peers);
// a peer not built there is left out with one line saying so. A checkout DIR
// runs its own programs (its src/bin) under this harness and needs its
// node_modules, e.g. made with
//   git worktree add --detach ../before <commit> && (cd ../before && npm ci)
// `--peers ''` times the checkouts alone.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readCourseDataset, runCourseDataset } from '../src/harness/course-dataset.ts';
import { makePkiDirectory } from '../src/pki/pki-directory.ts';
import { datasetDir } from './course-mode.ts';
import { PEER_NAMES, runPeer, type PeerName } from './peer-run.ts';
import { reapedChildrenCpuMs } from './process-cpu.ts';
import { median } from './stats.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    peers: { type: 'string', default: 'fdelu,gabokatta' },
    checkout: { type: 'string', multiple: true, default: [] },
    tls: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`versus-peers: --runs must be a positive integer, got ${values.runs}`);
  process.exit(2);
}

const peersDir = process.env.PEERS_DIR ?? '/tmp/peers';
const peers: PeerName[] = [];
for (const name of values.peers.split(',').filter((name) => name !== '')) {
  if (!PEER_NAMES.includes(name as PeerName)) {
    console.error(`versus-peers: --peers: no peer named ${name} (${PEER_NAMES.join(', ')})`);
    process.exit(2);
  }
  if (existsSync(join(peersDir, name, 'bin', 'client'))) peers.push(name as PeerName);
  else console.error(`versus-peers: ${name} is not built in ${peersDir} (shared/peers/build-peers.sh ${name}): left out`);
}

const checkouts = new Map(values.checkout.map((dir) => [`checkout ${resolve(dir)}`, resolve(dir)]));
for (const dir of checkouts.values()) {
  if (!existsSync(join(dir, 'src', 'bin', 'lottery-server.mjs'))) {
    console.error(`versus-peers: ${dir} has no src/bin/lottery-server.mjs`);
    process.exit(2);
  }
}

const OURS = 'this project';
const OURS_TLS = 'this project, mutual TLS';
const names = [OURS, ...(values.tls ? [OURS_TLS] : []), ...peers, ...checkouts.keys()];
const pkiDir = values.tls ? await mkdtemp(join(tmpdir(), 'versus-peers-pki-')) : undefined;
if (pkiDir !== undefined) {
  await makePkiDirectory({ dir: pkiDir, agencies: 5, hosts: ['localhost', '127.0.0.1'], days: 1, caDays: 1, force: false });
}
const seconds = new Map<string, number[]>(names.map((name) => [name, []]));
const cpuSeconds = new Map<string, number[]>(names.map((name) => [name, []]));
const failures: string[] = [];

/** One course run of `name`: its wall time, and the CPU of its processes from the kernel's count for reaped children. */
async function runOnce(
  name: string,
  dataset: Awaited<ReturnType<typeof readCourseDataset>>,
): Promise<{ seconds: number; cpuSeconds: number }> {
  if (peers.includes(name as PeerName)) {
    const run = await runPeer(name as PeerName, { peersDir });
    failures.push(...run.failures);
    return { seconds: run.seconds, cpuSeconds: run.cpuMs / 1000 };
  }
  const cpuBefore = await reapedChildrenCpuMs();
  const checkout = checkouts.get(name);
  const run = await runCourseDataset(
    dataset,
    name === OURS_TLS ? { pkiDir } : checkout === undefined ? {} : { binDir: join(checkout, 'src', 'bin') },
  );
  failures.push(...run.failures.map((failure) => `${name}: ${failure}`));
  return { seconds: run.seconds, cpuSeconds: ((await reapedChildrenCpuMs()) - cpuBefore) / 1000 };
}

const { dir, source, cleanup } = await datasetDir(undefined);
const loadBefore = loadavg()[0];
try {
  const dataset = await readCourseDataset(dir);
  for (let round = 0; round < runs; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const run = await runOnce(name, dataset);
      seconds.get(name)!.push(run.seconds);
      cpuSeconds.get(name)!.push(run.cpuSeconds);
      process.stderr.write(`round ${round + 1}/${runs}: ${name} ${run.seconds.toFixed(3)} s, CPU ${run.cpuSeconds.toFixed(2)} s\n`);
    }
  }
} finally {
  await cleanup();
  if (pkiDir !== undefined) await rm(pkiDir, { recursive: true, force: true });
}

/** Each implementation's median, range and `by`'s ratio to it (this project's by default), of wall time or of CPU time. */
function figures(of: Map<string, number[]>, by = OURS) {
  const ours = of.get(by)!;
  return new Map(
    names.map((name) => {
      const each = of.get(name)!;
      return [
        name,
        {
          median: median(each),
          min: Math.min(...each),
          max: Math.max(...each),
          ratioOfMedians: median(ours) / median(each),
          medianOfRatios: median(each.map((s, i) => ours[i] / s)),
        },
      ];
    }),
  );
}
const wall = figures(seconds);
const cpu = figures(cpuSeconds);
const rows = names.map((name) => ({ name, ...wall.get(name)!, cpu: cpu.get(name)! }));
const f = (n: number) => n.toFixed(2);
const lines = [
  `course dataset (${source}), server start to the last agency's exit, ${runs} interleaved rounds; ` +
    `${availableParallelism()} cpus (${cpus()[0]?.model.trim()}), load average ${loadBefore.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end; Node ${process.versions.node}`,
  "CPU: user + system of the implementation's own processes, from the kernel's count for reaped children",
  '',
  '| implementation | median s | range s | ÷ (medians) | ÷ (median of rounds) | CPU median s | CPU range s | CPU ÷ (medians) | CPU ÷ (median of rounds) |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => {
    const ratios = (x: { ratioOfMedians: number; medianOfRatios: number }) =>
      r.name === OURS ? ' | ' : `${f(x.ratioOfMedians)} | ${f(x.medianOfRatios)}`;
    return `| ${r.name} | ${f(r.median)} | ${f(r.min)}–${f(r.max)} | ${ratios(r)} | ${f(r.cpu.median)} | ${f(r.cpu.min)}–${f(r.cpu.max)} | ${ratios(r.cpu)} |`;
  }),
  '',
  "÷: this project's figure (plaintext) over the implementation's (below 1: this project is faster, or cheaper)",
  ...(values.tls
    ? (() => {
        const tlsWall = figures(seconds, OURS_TLS);
        const tlsCpu = figures(cpuSeconds, OURS_TLS);
        return names
          .filter((name) => name !== OURS && name !== OURS_TLS)
          .map(
            (name) =>
              `${OURS_TLS} ÷ ${name}: time ${f(tlsWall.get(name)!.ratioOfMedians)} (medians), ${f(tlsWall.get(name)!.medianOfRatios)} (median of rounds); ` +
              `CPU ${f(tlsCpu.get(name)!.ratioOfMedians)}, ${f(tlsCpu.get(name)!.medianOfRatios)}`,
          );
      })()
    : []),
];
console.log(lines.join('\n'));
if (failures.length > 0) console.error(`versus-peers: WRONG OUTCOMES\n${failures.join('\n')}`);
if (values.json) console.log(JSON.stringify({ runs, source, rows, failures }));
process.exitCode = failures.length > 0 ? 1 : 0;
