// Latency mode: ack latency at a given offered load, against the most this
// server takes in the same round. Each round starts one server and runs on
// it, one after another, each with agency ids of its own: a closed-loop
// warm-up (a server that has run for a while, its code compiled, as an
// operator's is), the closed loop again for the maximum (--window in flight
// per agency, as the real agency), then the open loop (load-schedule.ts) at
// each of --loads percent of that maximum. After each open-loop run, the raw
// sink takes the same schedule: what the load generator, loopback and
// timers add whatever a server does.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../src/harness/lottery-processes.ts';
import { serverTlsArgs, serverTlsFilesIn } from '../src/harness/tls-args.ts';
import { encodeLoad, type AgencyFrames } from './load-frames.ts';
import { runLoad, type LoadRunResult } from './load-run.ts';
import type { LatencyOptions } from './options.ts';
import { startRawSink } from './raw-sink.ts';
import { countLines } from './server-run.ts';
import { median } from './stats.ts';
import { benchPki, type BenchPki } from './tls-load.ts';

type OpenLoopRun = {
  round: number;
  /** Percent of the round's maximum. */
  load: number;
  offeredBetsPerSecond: number;
  betsPerSecond: number;
  ackP50Ms: number;
  ackP99Ms: number;
  ackP999Ms: number;
  ackMaxMs: number;
  sink: { betsPerSecond: number; ackP50Ms: number; ackP99Ms: number; ackP999Ms: number };
};

export type LatencyReport = {
  mode: 'latency';
  bets: number;
  agencies: number;
  fsync: 'on' | 'off';
  tls: 'on' | 'off';
  rounds: number;
  /** The closed loop's bets/s in each round: the maximum its open-loop runs take their rates from. */
  maxima: number[];
  runs: OpenLoopRun[];
  /** Per load, the medians over the rounds. */
  medians: Array<
    Pick<OpenLoopRun, 'load' | 'offeredBetsPerSecond' | 'betsPerSecond' | 'ackP50Ms' | 'ackP99Ms' | 'ackP999Ms'> & { sinkAckP99Ms: number }
  >;
  ok: boolean;
};

export async function latencyMode(
  options: LatencyOptions,
  signal: AbortSignal,
  say: (line: string) => void,
): Promise<{ report: LatencyReport; table: string }> {
  const K = options.agencies;
  // Warm-up, maximum, then one phase per load: each phase's agencies are ids of their own.
  const phases = 2 + options.loads.length;
  say(`bench latency: encoding ${options.bets} bets for ${K} agencies, ${phases} times…`);
  const loads = Array.from({ length: phases }, (_, phase) => encodeLoad(options.bets, K, options.seed, phase * K + 1));
  const pki = options.tls === 'on' ? await benchPki(K * phases) : undefined;
  try {
    return await measure(loads, options, pki, signal, say);
  } finally {
    await pki?.remove();
  }
}

async function measure(
  loads: readonly AgencyFrames[][],
  options: LatencyOptions,
  pki: BenchPki | undefined,
  signal: AbortSignal,
  say: (line: string) => void,
): Promise<{ report: LatencyReport; table: string }> {
  const sinkTls = pki === undefined ? undefined : await serverTlsFilesIn(pki.dir);
  const maxima: number[] = [];
  const runs: OpenLoopRun[] = [];
  let ok = true;
  const ms = (value: number) => value.toFixed(2).padStart(8);
  const [warmUp, closedLoop, ...openLoops] = loads;
  for (let round = 1; round <= options.rounds && !signal.aborted; round++) {
    const dataDir = await mkdtemp(join(tmpdir(), 'lottery-bench-latency-'));
    try {
      const server = await startServer(
        [
          ...['--agencies', String(options.agencies * loads.length), '--data-dir', dataDir, '--fsync', options.fsync ? 'on' : 'off'],
          ...['--log-level', 'warn'],
          ...(pki === undefined ? [] : serverTlsArgs(pki.dir)),
        ],
        { startTimeoutMs: 60_000, ready: 'socket' },
      );
      const run = (load: readonly AgencyFrames[], rate?: number): Promise<LoadRunResult> =>
        runLoad(server.port, load, options.window, pki?.tlsFor, rate);
      try {
        await run(warmUp);
        const closed = await run(closedLoop);
        const maximum = Math.round(options.bets / closed.seconds);
        maxima.push(maximum);
        say(
          `bench latency: round ${round} maximum ${maximum.toLocaleString('en-US').padStart(10)} bets/s (closed loop, window ${options.window}, after as many bets to warm up; ack p99 ${closed.ackP99Ms.toFixed(1)} ms)`,
        );
        for (const [i, percent] of options.loads.entries()) {
          if (signal.aborted) break;
          const rate = Math.round((maximum * percent) / 100);
          const result = await run(openLoops[i], rate);
          const sinkServer = await startRawSink(warmUp, sinkTls);
          let sink;
          try {
            sink = await runLoad(sinkServer.port, warmUp, options.window, pki?.tlsFor, rate);
          } finally {
            await sinkServer.stop();
          }
          const entry: OpenLoopRun = {
            round,
            load: percent,
            offeredBetsPerSecond: rate,
            betsPerSecond: Math.round(options.bets / result.seconds),
            ackP50Ms: result.ackP50Ms,
            ackP99Ms: result.ackP99Ms,
            ackP999Ms: result.ackP999Ms,
            ackMaxMs: result.ackMaxMs,
            sink: {
              betsPerSecond: Math.round(options.bets / sink.seconds),
              ackP50Ms: sink.ackP50Ms,
              ackP99Ms: sink.ackP99Ms,
              ackP999Ms: sink.ackP999Ms,
            },
          };
          runs.push(entry);
          say(
            `bench latency: round ${round} at ${String(percent).padStart(3)}% ${rate.toLocaleString('en-US').padStart(10)} bets/s offered, ${entry.betsPerSecond.toLocaleString('en-US').padStart(10)} taken; ack ms p50 ${ms(entry.ackP50Ms)} p99 ${ms(entry.ackP99Ms)} p99.9 ${ms(entry.ackP999Ms)} max ${ms(entry.ackMaxMs)}; raw sink p50 ${ms(sink.ackP50Ms)} p99 ${ms(sink.ackP99Ms)} p99.9 ${ms(sink.ackP999Ms)}`,
          );
        }
      } finally {
        const code = await server.stop();
        if (code !== 0) {
          ok = false;
          console.error(`bench latency: the server exited ${code}:\n${server.lines.slice(-10).join('\n')}`);
        }
      }
      const stored = await countLines(join(dataDir, 'bets.csv'));
      const expected = options.bets * (2 + runs.filter((entry) => entry.round === round).length);
      if (stored !== expected) {
        ok = false;
        console.error(`bench latency: round ${round}: bets.csv holds ${stored} rows, expected ${expected}`);
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  const hundredths = (value: number) => Math.round(value * 100) / 100;
  const medians = options.loads.map((percent) => {
    const at = runs.filter((run) => run.load === percent);
    const of = (pick: (run: OpenLoopRun) => number) => hundredths(median(at.map(pick)));
    return {
      load: percent,
      offeredBetsPerSecond: Math.round(median(at.map((run) => run.offeredBetsPerSecond))),
      betsPerSecond: Math.round(median(at.map((run) => run.betsPerSecond))),
      ackP50Ms: of((run) => run.ackP50Ms),
      ackP99Ms: of((run) => run.ackP99Ms),
      ackP999Ms: of((run) => run.ackP999Ms),
      sinkAckP99Ms: of((run) => run.sink.ackP99Ms),
    };
  });
  const report: LatencyReport = {
    mode: 'latency',
    bets: options.bets,
    agencies: options.agencies,
    fsync: options.fsync ? 'on' : 'off',
    tls: options.tls,
    rounds: options.rounds,
    maxima,
    runs,
    medians,
    ok,
  };
  const table = [
    `bench latency: ${options.bets} bets from ${options.agencies} agencies, fsync ${report.fsync}, tls ${report.tls}, ${maxima.length} rounds; maximum (closed loop) median ${Math.round(median(maxima)).toLocaleString('en-US')} bets/s`,
    `${'load'.padStart(5)}${'offered bets/s'.padStart(16)}${'taken bets/s'.padStart(14)}${'ack p50 ms'.padStart(12)}${'ack p99 ms'.padStart(12)}${'ack p99.9 ms'.padStart(14)}${'raw sink p99 ms'.padStart(17)}`,
    ...medians.map(
      (m) =>
        `${`${m.load}%`.padStart(5)}${m.offeredBetsPerSecond.toLocaleString('en-US').padStart(16)}${m.betsPerSecond.toLocaleString('en-US').padStart(14)}${m.ackP50Ms.toFixed(2).padStart(12)}${m.ackP99Ms.toFixed(2).padStart(12)}${m.ackP999Ms.toFixed(2).padStart(14)}${m.sinkAckP99Ms.toFixed(2).padStart(17)}`,
    ),
    `bets.csv held every bet once in every run: ${ok ? 'OK' : 'WRONG'}`,
  ].join('\n');
  return { report, table };
}
