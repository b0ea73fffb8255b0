// How long lottery-server takes to start: from spawning it to its `bind`
// line (it accepts from then on, holding connections while it boots), to
// the first TCP connection it accepts (a client connecting in a loop, as an
// agency started beside it retries), and to its `listen` line (the Store
// open, the session workers up: it serves), with its CPU time (all threads,
// from /proc) at `listen`, against a bare `node -e 0` in the same rounds,
// interleaved. Fresh data dir each time.
//   node bench/server-start.ts [--rounds R] [--workers W,...]
// --workers lists the worker counts to time (default: the default, and 2).
// The default is that of a server for the default 5 agencies.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** A port on 127.0.0.1 that was free a moment ago: the client must know it before the server says it. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Connects to `port` until a connection is accepted (a refused one is tried again at once); resolves with when. */
async function firstConnection(port: number, gaveUp: AbortSignal): Promise<number> {
  while (!gaveUp.aborted) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (accepted) return performance.now();
    await sleep(1);
  }
  return NaN;
}

type Start = { bindMs: number; connectMs: number; listenMs: number; cpuMs: number };

async function serverStart(workers: string): Promise<Start> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lottery-server-start-'));
  const port = await freePort();
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--data-dir',
    dataDir,
    ...(workers === 'default' ? [] : ['--workers', workers]),
  ];
  const gaveUp = new AbortController();
  const started = performance.now();
  const child = spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const connected = firstConnection(port, gaveUp.signal);
  try {
    let bindMs = NaN;
    const lines = createInterface({ input: child.stdout! });
    for await (const line of lines) {
      if (/action: bind \| result: success/.test(line)) bindMs = performance.now() - started;
      if (/action: listen \| result: success/.test(line)) {
        const listenMs = performance.now() - started;
        const cpuMs = await processCpuMs(child.pid!);
        return { bindMs, connectMs: (await connected) - started, listenMs, cpuMs };
      }
    }
    throw new Error('lottery-server exited before it listened');
  } finally {
    gaveUp.abort();
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode === null ? child.once('close', resolve) : resolve(undefined)));
    await rm(dataDir, { recursive: true, force: true });
  }
}

const bare: number[] = [];
const runs = new Map(variants.map((variant) => [variant, [] as Start[]]));
for (let round = 1; round <= rounds; round++) {
  bare.push(await bareNode());
  for (const variant of variants) runs.get(variant)!.push(await serverStart(variant));
  process.stderr.write(`round ${round}/${rounds}\n`);
}
const bareMs = median(bare);
const cell = (ms: number) => `${ms.toFixed(0)} (${(ms / bareMs).toFixed(2)}×)`;
console.log(`lottery-server start, ${rounds} interleaved rounds, medians, ms from spawn (× node -e 0); ${availableParallelism()} cpus, Node ${process.versions.node}
| | bind line | first connection accepted | listen line (serving) | CPU ms at listen (all threads) |
|---|---:|---:|---:|---:|
| node -e 0 | ${cell(bareMs)} | | | |
${variants
  .map((variant) => {
    const starts = runs.get(variant)!;
    const m = (key: keyof Start) => median(starts.map((start) => start[key]));
    const label =
      variant === 'default'
        ? `lottery-server, default workers (${defaultWorkers(5)} for 5 agencies)`
        : `lottery-server --workers ${variant}`;
    return `| ${label} | ${cell(m('bindMs'))} | ${cell(m('connectMs'))} | ${cell(m('listenMs'))} | ${m('cpuMs').toFixed(0)} |`;
  })
  .join('\n')}`);
