// What Node's compile cache saves at start: each program's .mjs entry turns
// it on before loading any TypeScript (see src/runtime.mjs). Times, in the
// same interleaved rounds: a bare `node -e 0` (the yardstick), then
// `lottery-agency --help` (every agency module loaded, then exit) and
// lottery-server from spawn to its `listen` line (its worker threads load
// their modules too), each with the cache (warmed by a first run) and with
// NODE_DISABLE_COMPILE_CACHE=1. Prints medians and their ratios.
//   node bench/compile-cache.ts [--rounds R]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { median } from './stats.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '11' } } });
const rounds = Number(values.rounds);
const bin = (name: string) => new URL(`../src/bin/${name}.mjs`, import.meta.url).pathname;
const { NODE_DISABLE_COMPILE_CACHE: _, ...withCache } = process.env;
const withoutCache = { ...process.env, NODE_DISABLE_COMPILE_CACHE: '1' };

async function timeToExit(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: 'ignore', env });
  await new Promise((resolve) => child.once('close', resolve));
  return performance.now() - started;
}

async function timeToListen(env: NodeJS.ProcessEnv): Promise<number> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lottery-start-'));
  const started = performance.now();
  const child = spawn(process.execPath, [bin('lottery-server'), '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (/action: listen \| result: success/.test(line)) resolve();
    });
    child.once('close', () => reject(new Error('lottery-server exited before listening')));
  });
  const elapsed = performance.now() - started;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('close', resolve));
  await rm(dataDir, { recursive: true, force: true });
  return elapsed;
}

const runs = {
  'node -e 0': () => timeToExit(['-e', '0'], process.env),
  'lottery-agency --help, cache on': () => timeToExit([bin('lottery-agency'), '--help'], withCache),
  'lottery-agency --help, cache off': () => timeToExit([bin('lottery-agency'), '--help'], withoutCache),
  'lottery-server to listen, cache on': () => timeToListen(withCache),
  'lottery-server to listen, cache off': () => timeToListen(withoutCache),
};
const times = new Map<string, number[]>(Object.keys(runs).map((name) => [name, []]));
// A first run of each fills the cache.
for (const run of Object.values(runs)) await run();
for (let round = 0; round < rounds; round++) {
  for (const [name, run] of Object.entries(runs)) times.get(name)!.push(await run());
}
const medians = new Map([...times].map(([name, ms]) => [name, median(ms)]));
const yardstick = medians.get('node -e 0')!;
console.log(`compile cache, ${rounds} interleaved rounds, medians (ms, and × node -e 0):`);
for (const [name, ms] of medians) console.log(`  ${name.padEnd(38)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / yardstick).toFixed(2)}×`);
for (const program of ['lottery-agency --help', 'lottery-server to listen']) {
  const on = medians.get(`${program}, cache on`)!;
  const off = medians.get(`${program}, cache off`)!;
  console.log(`  ${program}: the cache saves ${(off - on).toFixed(0)} ms (${((1 - on / off) * 100).toFixed(0)}%)`);
}
