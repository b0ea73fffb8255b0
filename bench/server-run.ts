// The real server under the load: lottery-server started as a child process
// with the real CLI, on a fresh data dir, run, measured, stopped, and its
// bets.csv counted.
import { createReadStream } from 'node:fs';
import postgres from 'postgres';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/harness/lottery-processes.ts';
import { serverTlsArgs } from '../src/harness/tls-args.ts';
import type { ClientTlsFiles } from '../src/transport/client-tls.ts';
import type { AgencyFrames } from './load-frames.ts';
import { runLoad, type LoadRunResult } from './load-run.ts';
import { threadsCpuNs } from './process-cpu.ts';

export type ServerRunOptions = {
  agencies: number;
  fsync: boolean;
  window: number;
  /** The open loop: the agencies offer this many bets a second together (load-run.ts). */
  rate?: number | undefined;
  cpuProf: string | undefined;
  /** A PostgreSQL URL and a lottery name: the server stores there instead of the data dir. */
  postgres?: { url: string; lottery: string };
  /** A lottery-pki directory: the run goes over mutual TLS. */
  pki?: { dir: string; tlsFor: (agency: number) => ClientTlsFiles };
  /** More flags for the server; with them the log level is left to the caller, and the `listen` line tells the port. */
  serverArgs?: string[];
  /** Started once the server listens, stopped when the load is done (a scraper, say). */
  beside?: (server: RunningServer) => { stop(): Promise<void> };
};
/** `serverCpuMs`: CPU time of all the server's threads while the load ran; `serverThreadsCpuMs`: the same by thread name. */
export type ServerRunResult = LoadRunResult & {
  stored: number;
  serverPeakRssMb: number;
  serverCpuMs: number;
  serverThreadsCpuMs: Record<string, number>;
  serverCode: number;
};

/** The server being started or measured and its data dir, so that a timeout can stop it and clean up. */
let current: { server: Promise<RunningServer>; dataDir: string } | undefined;

/** Stops the server if one is up or starting (one that fails to start is killed by startServer), and removes its data. */
export async function stopRunningServer(): Promise<void> {
  if (current === undefined) return;
  const { dataDir } = current;
  const server = await current.server.catch(() => undefined);
  if (server !== undefined) await stopOnce(server);
  await rm(dataDir, { recursive: true, force: true });
}

export async function runServer(load: readonly AgencyFrames[], options: ServerRunOptions): Promise<ServerRunResult> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lottery-bench-'));
  try {
    const env =
      options.cpuProf === undefined ? process.env : { ...process.env, NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${options.cpuProf}` };
    const starting = startServer(
      [
        ...['--agencies', String(options.agencies), '--data-dir', dataDir, '--fsync', options.fsync ? 'on' : 'off'],
        ...(options.serverArgs ?? ['--log-level', 'warn']),
        ...(options.pki === undefined ? [] : serverTlsArgs(options.pki.dir)),
        ...(options.postgres === undefined ? [] : ['--store', options.postgres.url, '--lottery', options.postgres.lottery]),
      ],
      // At warn the server does not log that it listens: its listening socket tells instead.
      { env, startTimeoutMs: 60_000, ready: options.serverArgs === undefined ? 'socket' : 'log' },
    );
    current = { server: starting, dataDir };
    const server = await starting;
    let result: LoadRunResult;
    let serverPeakRssMb: number;
    const serverThreadsCpuMs: Record<string, number> = {};
    try {
      const cpuBefore = await threadsCpuNs(server.child.pid!);
      const beside = options.beside?.(server);
      try {
        result = await runLoad(server.port, load, options.window, options.pki?.tlsFor, options.rate);
      } finally {
        await beside?.stop();
      }
      for (const [name, ns] of await threadsCpuNs(server.child.pid!)) serverThreadsCpuMs[name] = (ns - (cpuBefore.get(name) ?? 0)) / 1e6;
      serverPeakRssMb = await peakRssMb(server.child.pid!);
    } finally {
      await stopOnce(server);
    }
    const serverCode = await server.exited;
    if (serverCode !== 0) console.error(`bench: the server exited ${serverCode}:\n${server.lines.slice(-10).join('\n')}`);
    else {
      // At warn, anything but the shutdown lines is worth seeing.
      const notable = server.lines.filter((line) => !/ INFO /.test(line) && !/action: transport \| result: success \| tls: off/.test(line));
      if (notable.length > 0) console.error(`bench: the server said:\n${notable.slice(0, 10).join('\n')}`);
    }
    const serverCpuMs = Object.values(serverThreadsCpuMs).reduce((sum, ms) => sum + ms, 0);
    const stored = options.postgres === undefined ? await countLines(join(dataDir, 'bets.csv')) : await countStored(options.postgres);
    return { ...result, stored, serverPeakRssMb, serverCpuMs, serverThreadsCpuMs, serverCode };
  } finally {
    current = undefined;
    await rm(dataDir, { recursive: true, force: true });
  }
}

const stopping = new WeakMap<RunningServer, Promise<number>>();

/** One SIGTERM only: a second one makes the server exit at once, without its shutdown. */
function stopOnce(server: RunningServer): Promise<number> {
  let stopped = stopping.get(server);
  if (stopped === undefined) {
    stopped = server.child.exitCode === null && server.child.signalCode === null ? server.stop() : server.exited;
    stopping.set(server, stopped);
  }
  return stopped;
}

/** The process's peak resident set (VmHWM), in MiB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  return match === null ? Number.NaN : Number(match[1]) / 1024;
}

/** The bets the database holds for the run's lottery. */
async function countStored({ url, lottery }: { url: string; lottery: string }): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    const [{ count }] =
      await sql`select coalesce(sum(count), 0)::integer as count from batches where lottery = (select id from lotteries where name = ${lottery})`;
    return count;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

export async function countLines(path: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) lines++;
  }
  return lines;
}
