// This checkout against another one (an earlier commit, say) on the course
// dataset, in one run: each round runs the course run of each checkout once,
// in an order that alternates from round to round, each with its own
// programs (`bench/bench.ts --mode course --runs 1 --json` in that checkout).
// Prints each one's median and range and the ratio of this checkout's time
// to the other's, both as the ratio of medians and as the median of the
// per-round ratios.
//   node bench/versus-checkout.ts --other DIR [--runs R]
// DIR is the other checkout, with its node_modules installed, e.g. made with
//   git worktree add --detach ../before <commit> && (cd ../before && npm ci)
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './stats.ts';

const { values } = parseArgs({ options: { other: { type: 'string' }, runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
if (values.other === undefined || !Number.isInteger(runs) || runs < 1) {
  console.error('Usage: node bench/versus-checkout.ts --other DIR [--runs R]');
  process.exit(2);
}
const here = fileURLToPath(new URL('..', import.meta.url));
const other = resolve(values.other);
if (!existsSync(join(other, 'bench', 'bench.ts'))) {
  console.error(`versus-checkout: ${other} has no bench/bench.ts`);
  process.exit(2);
}

/** One course run of the checkout at `dir`, in seconds; throws if its outcome is wrong. */
function courseRun(dir: string): Promise<number> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [join(dir, 'bench', 'bench.ts'), '--mode', 'course', '--runs', '1', '--json'],
      { cwd: dir, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) return fail(new Error(`the course run in ${dir} failed:\n${stderr.slice(-2000)}`));
        const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as { seconds: number; ok: boolean };
        if (!report.ok) return fail(new Error(`the course run in ${dir} gave a wrong outcome:\n${stderr.slice(-2000)}`));
        done(report.seconds);
      },
    );
  });
}

const load = () => loadavg()[0].toFixed(1);
const loadBefore = load();
const seconds: Record<'this' | 'other', number[]> = { this: [], other: [] };
for (let round = 1; round <= runs; round++) {
  const order = round % 2 === 1 ? (['this', 'other'] as const) : (['other', 'this'] as const);
  for (const which of order) {
    const taken = await courseRun(which === 'this' ? here : other);
    seconds[which].push(taken);
    console.error(`round ${round}/${runs}: ${which === 'this' ? 'this checkout' : 'the other'} ${taken.toFixed(3)} s`);
  }
}
const ratios = seconds.this.map((taken, i) => taken / seconds.other[i]);
const row = (name: string, each: number[]) =>
  `| ${name} | ${median(each).toFixed(2)} | ${Math.min(...each).toFixed(2)}–${Math.max(...each).toFixed(2)} |`;
console.log(
  `course dataset, server start to the last agency's exit, ${runs} interleaved rounds; ` +
    `${availableParallelism()} cpus (${cpus()[0]?.model.split(' ')[0] ?? '?'}), load average ${loadBefore} at start, ${load()} at end; Node ${process.versions.node}\n`,
);
console.log('| checkout | median s | range s |\n|---|---:|---:|');
console.log(row(`this (${here})`, seconds.this));
console.log(row(`other (${other})`, seconds.other));
console.log(
  `\nthis ÷ other: ${(median(seconds.this) / median(seconds.other)).toFixed(2)} (medians), ${median(ratios).toFixed(2)} (median of rounds)`,
);
