// npm run bench -- --mode hostile [--rounds R] [--json]
//
// What the worst frames under 8 KiB cost the real server, in CPU per frame,
// against honest frames in the same run. The server runs with one session
// worker (so a neighbour shares the worker with the hostile peer) and
// --fsync off (the disk is not what is measured). Its CPU is read from
// /proc/<pid>/task/*/schedstat (nanoseconds, every thread) before and after
// each case; the cases run in rounds, interleaved, and each figure is the
// median over the rounds. Meanwhile a neighbour on the same worker pings
// every 2 ms: its round trips show what one peer's frames cost the others.
//
// Cases that close the connection (BAD_MESSAGE) pay for a connection each:
// the yardstick for them is "connect, PING, close".

import { setTimeout as sleep } from 'node:timers/promises';
import { processCpuNs } from './process-cpu.ts';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as hostile from '../src/harness/hostile-frames.ts';
import { startServer, type RunningServer } from '../src/harness/lottery-processes.ts';
import { encodeAgencyFrames } from './load-frames.ts';
import { median, percentile } from './stats.ts';

export type HostileOptions = { rounds: number; json: boolean };

type CaseRun = (port: number, round: number) => Promise<number>;
type Case = { name: string; kind: 'yardstick' | 'hostile'; bytes: number; run: CaseRun };
export type CaseResult = {
  name: string;
  kind: string;
  frameBytes: number;
  frames: number;
  cpuMicrosPerFrame: number;
  ratio: number;
  neighbourP50Ms: number;
  neighbourMaxMs: number;
};

/** A client that writes bytes and counts the frames that come back, until `count` have or the connection closes. */
async function exchange(port: number, bytes: Uint8Array, count: number): Promise<number> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  let received = 0;
  let pending: Buffer = Buffer.alloc(0);
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 8) {
        const length = 8 + pending.readUInt32BE(4);
        if (pending.length < length) break;
        pending = pending.subarray(length);
        if (++received >= count) {
          socket.destroy();
          resolve();
        }
      }
    });
    socket.once('close', () => resolve());
  });
  socket.write(bytes);
  await done;
  socket.destroy();
  return received;
}

/** `connections` connections, `parallel` at a time, each sending `bytes` and waiting for `answers` frames or the close. */
async function manyConnections(port: number, bytes: Uint8Array, answers: number, connections: number, parallel = 50): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < connections) {
      next++;
      await exchange(port, bytes, answers);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return connections;
}

/** Pipelined frames on one connection after HELLO as `agency`: the frames and how many answers they get. */
async function pipelined(port: number, agency: number, frames: Uint8Array[]): Promise<number> {
  const received = await exchange(port, Buffer.concat([hostile.hello(agency), ...frames]), frames.length + 1);
  if (received !== frames.length + 1) throw new Error(`expected ${frames.length + 1} answers, got ${received}`);
  return frames.length;
}

/** Frames at consecutive offsets, each made by `make` at its offset. */
function atOffsets(count: number, make: (offset: number) => { frame: Uint8Array; count: number }): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const next = make(offset);
    frames.push(next.frame);
    offset += next.count;
  }
  return frames;
}

function cases(): Case[] {
  // Agency ids: a fresh one per case and round, so offsets start at 0 and no connection replaces another.
  let nextAgency = 1;
  const agencyFor = new Map<string, number>();
  const agency = (name: string, round: number) => {
    const key = `${name}/${round}`;
    if (!agencyFor.has(key)) agencyFor.set(key, nextAgency++);
    return agencyFor.get(key)!;
  };
  const honest = encodeAgencyFrames(1, 300 * 184, 7).bets.map(({ frame }) => frame);
  const bomb = hostile.sharedReferenceBets(24);
  const manyKeys = hostile.frame('PING', hostile.manyKeysMap(2040));
  const deep = hostile.deepBets(8000);
  const heavyPing = hostile.heavyPlainPing();
  return [
    {
      name: "honest BETS frame (the real agency's batches)",
      kind: 'yardstick',
      bytes: honest[0].length,
      run: (port, round) => pipelined(port, agency('honest', round), honest),
    },
    {
      name: 'PING, pipelined',
      kind: 'yardstick',
      bytes: 9,
      run: (port, round) => pipelined(port, agency('ping', round), new Array(20_000).fill(hostile.ping())),
    },
    { name: 'connect, PING, close', kind: 'yardstick', bytes: 9, run: (port) => manyConnections(port, hostile.ping(), 1, 400) },
    {
      name: 'shared-reference bomb, 24 levels (closes)',
      kind: 'hostile',
      bytes: bomb.length,
      run: (port) => manyConnections(port, bomb, 1, 400),
    },
    {
      name: '2,040-key map in a PING (closes)',
      kind: 'hostile',
      bytes: manyKeys.length,
      run: (port) => manyConnections(port, manyKeys, 1, 400),
    },
    { name: 'arrays nested 8,000 deep (closes)', kind: 'hostile', bytes: deep.length, run: (port) => manyConnections(port, deep, 1, 400) },
    {
      name: '424 bets, the last invalid (described)',
      kind: 'hostile',
      bytes: hostile.lastBetInvalid(0).frame.length,
      run: (port, round) => pipelined(port, agency('last', round), atOffsets(300, hostile.lastBetInvalid)),
    },
    {
      name: '8,163 empty bets (described)',
      kind: 'hostile',
      bytes: hostile.emptyBets(0).frame.length,
      run: (port, round) => pipelined(port, agency('empty', round), atOffsets(300, hostile.emptyBets)),
    },
    {
      name: 'a name of 4,000 C1 controls (described)',
      kind: 'hostile',
      bytes: hostile.longControlName(0).frame.length,
      run: (port, round) => pipelined(port, agency('control', round), atOffsets(300, hostile.longControlName)),
    },
    {
      name: '8 KiB PING of plain arrays, pipelined',
      kind: 'hostile',
      bytes: heavyPing.length,
      run: (port, round) => pipelined(port, agency('heavy', round), new Array(3000).fill(heavyPing)),
    },
  ];
}

/** The neighbour's agency id: the last of --agencies, which no case reaches. */
const NEIGHBOUR_AGENCY = 1000;

/** Pings every 2 ms until stopped; the round trips in ms. */
function neighbour(port: number): { stop: () => Promise<number[]> } {
  const rtts: number[] = [];
  let running = true;
  let socket: net.Socket | undefined;
  let waiting: ((answered: boolean) => void) | undefined;
  const ping = async (): Promise<boolean> => {
    if (socket === undefined || socket.destroyed) {
      socket = net.connect({ port, host: '127.0.0.1' });
      socket.setNoDelay(true);
      socket.on('error', () => undefined);
      // An agency, as a real neighbour is (PINGs before HELLO are limited): its WELCOME is awaited before the first PING.
      socket.write(hostile.hello(NEIGHBOUR_AGENCY));
      const welcomed = await new Promise<boolean>((resolve) => {
        socket!.once('data', () => resolve(true));
        socket!.once('close', () => resolve(false));
      });
      if (!welcomed) return false;
      socket.on('data', () => waiting?.(true));
      socket.on('close', () => waiting?.(false));
    }
    return new Promise((resolve) => {
      waiting = resolve;
      socket!.write(hostile.ping());
    });
  };
  const done = (async () => {
    while (running) {
      const started = performance.now();
      if (await ping()) rtts.push(performance.now() - started);
      await sleep(2);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      socket?.destroy();
      return rtts;
    },
  };
}

export async function hostileMode(options: HostileOptions, say: (line: string) => void): Promise<{ results: CaseResult[]; table: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lottery-hostile-'));
  let server: RunningServer | undefined;
  try {
    server = await startServer([
      '--data-dir',
      dataDir,
      '--workers',
      '1',
      '--fsync',
      'off',
      '--agencies',
      '1000',
      '--handshake-timeout',
      '600',
    ]);
    const pid = server.child.pid!;
    const all = cases();
    const samples = new Map<string, { cpu: number[]; frames: number; rtts: number[] }>();
    for (let round = 0; round < options.rounds; round++) {
      say(`bench hostile: round ${round + 1} of ${options.rounds}`);
      for (const entry of all) {
        const watch = neighbour(server.port);
        const before = await processCpuNs(pid);
        const frames = await entry.run(server.port, round);
        const after = await processCpuNs(pid);
        const rtts = await watch.stop();
        const sample = samples.get(entry.name) ?? { cpu: [], frames, rtts: [] };
        // The neighbour's own pings cost the server too: a few hundred per case, next to thousands of frames.
        sample.cpu.push((after - before) / frames / 1000);
        sample.rtts.push(...rtts);
        samples.set(entry.name, sample);
      }
    }
    const yardstick = median(samples.get(all[0].name)!.cpu);
    const results = all.map((entry): CaseResult => {
      const { cpu, frames, rtts } = samples.get(entry.name)!;
      const sorted = [...rtts].sort((a, b) => a - b);
      const micros = median(cpu);
      return {
        name: entry.name,
        kind: entry.kind,
        frameBytes: entry.bytes,
        frames,
        cpuMicrosPerFrame: Math.round(micros * 10) / 10,
        ratio: Math.round((micros / yardstick) * 100) / 100,
        neighbourP50Ms: Math.round(percentile(sorted, 0.5) * 100) / 100,
        neighbourMaxMs: Math.round((sorted.at(-1) ?? 0) * 100) / 100,
      };
    });
    return { results, table: hostileTable(results, options.rounds) };
  } finally {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function hostileTable(results: readonly CaseResult[], rounds: number): string {
  const header = ['frame', 'kind', 'bytes', 'frames/round', 'server CPU µs/frame', '× honest BETS', 'neighbour PING p50 ms', 'max ms'];
  const rows = results.map((r) => [
    r.name,
    r.kind,
    String(r.frameBytes),
    String(r.frames),
    r.cpuMicrosPerFrame.toFixed(1),
    r.ratio.toFixed(2),
    r.neighbourP50Ms.toFixed(2),
    r.neighbourMaxMs.toFixed(2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [
    `Server CPU per frame, median of ${rounds} interleaved rounds (lottery-server --workers 1 --fsync off):`,
    line(header),
    ...rows.map(line),
    'Cases marked "closes" each pay for a connection: compare them with "connect, PING, close".',
  ].join('\n');
}
