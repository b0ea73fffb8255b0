// Where a course run's wall time goes: the real lottery-server and five
// lottery-agency processes on the course dataset, as `--mode course` runs
// them but for one thing: the agencies start once the server serves (its
// `listen` line), not at its `bind` line, so that its start-up CPU is read
// alone. With the time (ms from spawning the server) at which each program
// first logs each of its actions, the server's CPU time by thread name (read
// from /proc when it listens, before any agency starts, and once the last
// agency has exited) and the agencies' (the kernel's count for reaped
// children: nothing watches them while they run). The median of each figure
// over the runs is printed.
//   node bench/course-timeline.ts [--runs R] [--dir DIR] [--server-arg ARG ...]
// --dir is a directory holding agency-1.csv … agency-5.csv (default: the
// course's zip, else .data/). --server-arg is passed to lottery-server,
// e.g. --server-arg=--workers=1.
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { courseFailures, readCourseDataset, type CourseDataset } from '../src/harness/course-dataset.ts';
import { readStoredRows, startAgency, startServer } from '../src/harness/lottery-processes.ts';
import { datasetDir } from './course-mode.ts';
import { reapedChildrenCpuMs, threadsCpuNs } from './process-cpu.ts';
import { median } from './stats.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    dir: { type: 'string' },
    'server-arg': { type: 'string', multiple: true, default: [] },
  },
});
const runs = Number(values.runs);
/** The first time each `action: X` appears in a program's log, in ms from `t0`. */
function actionClock(t0: number, marks: Map<string, number>) {
  return (line: string) => {
    const action = /action: (\w+)/.exec(line)?.[1];
    if (action !== undefined && !marks.has(action)) marks.set(action, performance.now() - t0);
  };
}

type Figures = Map<string, number>;

async function oneRun(dataset: CourseDataset): Promise<{ figures: Figures; failures: string[]; dataDir: string }> {
  const { files } = dataset;
  const dataDir = await mkdtemp(join(tmpdir(), 'lottery-timeline-'));
  // Only the agencies are reaped during the run: the server is stopped after.
  const reapedBefore = await reapedChildrenCpuMs();
  const t0 = performance.now();
  const serverMarks = new Map<string, number>();
  const server = await startServer(['--data-dir', dataDir, '--agencies', String(files.length), ...values['server-arg']], {
    onLine: actionClock(t0, serverMarks),
  });
  // Read as soon as it listens, before any agency starts: its start-up alone.
  // (The course run starts the agencies earlier, at the server's bind line.)
  const cpuAtListen = await threadsCpuNs(server.child.pid!);
  const agencyMarks = files.map(() => new Map<string, number>());
  const agencies = files.map((file, i) =>
    startAgency(i + 1, server.port, ['--data-file', file], { onLine: actionClock(t0, agencyMarks[i]) }),
  );
  const exits = agencies.map((agency) => agency.exited.then(() => performance.now() - t0));
  const exitMs = await Promise.all(exits);
  const runsOut = await Promise.all(agencies.map((agency) => agency.result));
  const total = performance.now() - t0;
  const cpuAtEnd = await threadsCpuNs(server.child.pid!);
  // Before the server is stopped, and reaped with them.
  const agenciesCpu = (await reapedChildrenCpuMs()) - reapedBefore;
  await server.stop();
  const figures: Figures = new Map();
  figures.set('server bind (accepts)', serverMarks.get('bind') ?? NaN);
  figures.set('server listen (serves)', serverMarks.get('listen') ?? NaN);
  const sumMs = (byName: Map<string, number>) => [...byName.values()].reduce((sum, ns) => sum + ns, 0) / 1e6;
  figures.set('server CPU ms at listen', sumMs(cpuAtListen));
  figures.set('server CPU ms from listen to the last exit', sumMs(cpuAtEnd) - sumMs(cpuAtListen));
  // By thread name (see threadsCpuNs): the main thread, the workers (Store and sessions), V8's helpers, libuv's pool.
  for (const name of ['node-MainThread', 'WorkerThread', 'node-V8Worker', 'libuv-worker']) {
    const atListen = (cpuAtListen.get(name) ?? 0) / 1e6;
    figures.set(`  ${name} at listen`, atListen);
    figures.set(`  ${name} after`, (cpuAtEnd.get(name) ?? 0) / 1e6 - atListen);
  }
  for (const action of ['config', 'conexion', 'finalizar', 'ganadores']) {
    const at = agencyMarks.map((marks) => marks.get(action) ?? NaN);
    figures.set(`agencies' ${action}, first`, Math.min(...at));
    figures.set(`agencies' ${action}, last`, Math.max(...at));
  }
  figures.set("agencies' exit, last", Math.max(...exitMs));
  figures.set('agencies CPU ms, sum', agenciesCpu);
  figures.set('total', total);
  const failures = courseFailures(dataset, runsOut, await readStoredRows(dataDir));
  return { figures, failures, dataDir };
}

const { dir, source, cleanup } = await datasetDir(values.dir);
try {
  const dataset = await readCourseDataset(dir);
  const all: Figures[] = [];
  for (let run = 1; run <= runs; run++) {
    const { figures, failures, dataDir } = await oneRun(dataset);
    await rm(dataDir, { recursive: true, force: true });
    if (failures.length > 0) {
      console.error(`run ${run}: the outcome is wrong:\n${failures.join('\n')}`);
      process.exitCode = 1;
    }
    all.push(figures);
    console.error(`run ${run}/${runs}: ${Math.round(figures.get('total')!)} ms`);
  }
  console.log(
    `course timeline: ${dataset.rows.length} bets from ${dataset.files.length} agencies (${source}), ${runs} runs, ` +
      `node ${process.versions.node}, ${availableParallelism()} cpus; ms from spawning the server, medians (range)\n`,
  );
  console.log('| | ms | range |\n|---|---:|---:|');
  for (const name of all[0].keys()) {
    const each = all.map((figures) => figures.get(name)!);
    console.log(`| ${name} | ${Math.round(median(each))} | ${Math.round(Math.min(...each))}–${Math.round(Math.max(...each))} |`);
  }
} finally {
  await cleanup();
}
