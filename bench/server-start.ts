// How long lottery-server takes to listen: from spawning it to its `listen`
// line, with its CPU time (all threads, from /proc) at that moment, against a
// bare `node -e 0` in the same rounds, interleaved. Fresh data dir each time.
//   node bench/server-start.ts [--rounds R] [--workers W,...]
// --workers lists the worker counts to time (default: the default, and 2).
// The default is that of a server for the default 5 agencies.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { defaultWorkers } from '../src/config/server-config.ts';
import { processCpuMs } from './process-cpu.ts';
import { median } from './stats.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '9' }, workers: { type: 'string', default: 'default,2' } } });
const rounds = Number(values.rounds);
const variants = values.workers.split(',');
const entry = new URL('../src/bin/lottery-server.mjs', import.meta.url).pathname;
async function bareNode(): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('close', resolve));
  return performance.now() - started;
}

async function serverStart(workers: string): Promise<{ wallMs: number; cpuMs: number }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lottery-server-start-'));
  const args = ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, ...(workers === 'default' ? [] : ['--workers', workers])];
  const started = performance.now();
  const child = spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: child.stdout! });
    for await (const line of lines) {
      if (/action: listen \| result: success/.test(line)) {
        const wallMs = performance.now() - started;
        const cpuMs = await processCpuMs(child.pid!);
        return { wallMs, cpuMs };
      }
    }
    throw new Error('lottery-server exited before it listened');
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode === null ? child.once('close', resolve) : resolve(undefined)));
    await rm(dataDir, { recursive: true, force: true });
  }
}

const bare: number[] = [];
const runs = new Map(variants.map((variant) => [variant, { wall: [] as number[], cpu: [] as number[] }]));
for (let round = 1; round <= rounds; round++) {
  bare.push(await bareNode());
  for (const variant of variants) {
    const { wallMs, cpuMs } = await serverStart(variant);
    runs.get(variant)!.wall.push(wallMs);
    runs.get(variant)!.cpu.push(cpuMs);
  }
  process.stderr.write(`round ${round}/${rounds}\n`);
}
const bareMs = median(bare);
console.log(`lottery-server start to its listen line, ${rounds} interleaved rounds, medians; ${availableParallelism()} cpus, Node ${process.versions.node}
| | wall ms | × node -e 0 | CPU ms at listen (all threads) |
|---|---:|---:|---:|
| node -e 0 | ${bareMs.toFixed(0)} | 1.00 | |
${variants
  .map((variant) => {
    const { wall, cpu } = runs.get(variant)!;
    const label =
      variant === 'default'
        ? `lottery-server, default workers (${defaultWorkers(5)} for 5 agencies)`
        : `lottery-server --workers ${variant}`;
    return `| ${label} | ${median(wall).toFixed(0)} | ${(median(wall) / bareMs).toFixed(2)} | ${median(cpu).toFixed(0)} |`;
  })
  .join('\n')}`);
