// Course mode: the real lottery-server and lottery-agency programs on the
// course dataset, timed as CI runs them (src/harness/course-dataset.ts).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { readCourseDataset, runCourseDataset } from '../src/harness/course-dataset.ts';
import type { CourseOptions } from './options.ts';
import { courseTable, type CourseReport } from './report.ts';
import { median } from './stats.ts';

/** The course's zip, in shared/data/ beside this checkout or above it. */
const ZIP = findShared('data/tp0-dataset.zip');
const DATA = fileURLToPath(new URL('../.data', import.meta.url));

/** `shared/<path>` in the nearest directory above this checkout that has it. */
export function findShared(path: string): string | undefined {
  for (let dir = fileURLToPath(new URL('..', import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'shared', path);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Where agency-N.csv are, and what to remove afterwards. */
export async function datasetDir(dir: string | undefined): Promise<{ dir: string; source: string; cleanup: () => Promise<void> }> {
  const none = async () => undefined;
  if (dir !== undefined) return { dir, source: dir, cleanup: none };
  if (ZIP !== undefined) {
    const work = await mkdtemp(join(tmpdir(), 'lottery-course-data-'));
    await promisify(execFile)('python3', ['-m', 'zipfile', '-e', ZIP, work]);
    return { dir: work, source: 'tp0-dataset.zip', cleanup: () => rm(work, { recursive: true, force: true }) };
  }
  return { dir: DATA, source: '.data/', cleanup: none };
}

export async function courseMode(
  options: CourseOptions,
  signal?: AbortSignal,
): Promise<{ report: CourseReport; table: string; failures: string[] }> {
  const { dir, source, cleanup } = await datasetDir(options.dir);
  try {
    const dataset = await readCourseDataset(dir);
    const secondsEach: number[] = [];
    const failures: string[] = [];
    for (let run = 1; run <= options.runs && !signal?.aborted; run++) {
      const outcome = await runCourseDataset(dataset);
      secondsEach.push(outcome.seconds);
      failures.push(...outcome.failures.map((failure) => `run ${run}: ${failure}`));
    }
    const seconds = median(secondsEach);
    const report: CourseReport = {
      mode: 'course',
      bets: dataset.rows.length,
      agencies: dataset.files.length,
      runs: options.runs,
      seconds: Math.round(seconds * 1000) / 1000,
      secondsEach: secondsEach.map((s) => Math.round(s * 1000) / 1000),
      betsPerSecond: Math.round(dataset.rows.length / seconds),
      ok: failures.length === 0,
      node: process.versions.node,
      cpus: availableParallelism(),
    };
    return { report, table: courseTable(report, source), failures };
  } finally {
    await cleanup();
  }
}
