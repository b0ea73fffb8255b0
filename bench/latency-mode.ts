// Latency mode: ack latency at a given offered load, against the most this
// server takes in the same round. Each round measures the maximum with the
// closed loop (--window in flight per agency, as the real agency), then runs
// the open loop (load-schedule.ts) at each of --loads percent of that
// maximum, each on a fresh server, and the raw sink on the same schedule:
// what the load generator, loopback and timers add whatever a server does.
import type { AgencyFrames } from './load-frames.ts';
import { encodeLoad } from './load-frames.ts';
import { runLoad } from './load-run.ts';
import type { LatencyOptions } from './options.ts';
import { startRawSink } from './raw-sink.ts';
import { runServer } from './server-run.ts';
import { median } from './stats.ts';
import { benchPki, type BenchPki } from './tls-load.ts';
import { serverTlsFilesIn } from '../src/harness/tls-args.ts';

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
  stored: number;
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
  medians: Array<{
    load: number;
    offeredBetsPerSecond: number;
    betsPerSecond: number;
    ackP50Ms: number;
    ackP99Ms: number;
    ackP999Ms: number;
    sinkAckP99Ms: number;
  }>;
  ok: boolean;
};

export async function latencyMode(
  options: LatencyOptions,
  signal: AbortSignal,
  say: (line: string) => void,
): Promise<{ report: LatencyReport; table: string }> {
  say(`bench latency: encoding ${options.bets} bets for ${options.agencies} agencies…`);
  const load = encodeLoad(options.bets, options.agencies, options.seed);
  const pki = options.tls === 'on' ? await benchPki(options.agencies) : undefined;
  try {
    return await measure(load, options, pki, signal, say);
  } finally {
    await pki?.remove();
  }
}

async function measure(
  load: readonly AgencyFrames[],
  options: LatencyOptions,
  pki: BenchPki | undefined,
  signal: AbortSignal,
  say: (line: string) => void,
): Promise<{ report: LatencyReport; table: string }> {
  const sinkTls = pki === undefined ? undefined : await serverTlsFilesIn(pki.dir);
  const maxima: number[] = [];
  const runs: OpenLoopRun[] = [];
  let ok = true;
  const base = { ...options, ...(pki === undefined ? {} : { pki }) };
  const ms = (value: number) => value.toFixed(2).padStart(8);
  for (let round = 1; round <= options.rounds && !signal.aborted; round++) {
    const closed = await runServer(load, base);
    ok &&= closed.stored === options.bets && closed.serverCode === 0;
    const maximum = Math.round(options.bets / closed.seconds);
    maxima.push(maximum);
    say(
      `bench latency: round ${round} maximum ${maximum.toLocaleString('en-US').padStart(10)} bets/s (closed loop, window ${options.window}, ack p99 ${closed.ackP99Ms.toFixed(1)} ms)`,
    );
    for (const percent of options.loads) {
      if (signal.aborted) break;
      const rate = Math.round((maximum * percent) / 100);
      const server = await runServer(load, { ...base, rate });
      ok &&= server.stored === options.bets && server.serverCode === 0;
      const sinkServer = await startRawSink(load, sinkTls);
      let sink;
      try {
        sink = await runLoad(sinkServer.port, load, options.window, pki?.tlsFor, rate);
      } finally {
        await sinkServer.stop();
      }
      const run: OpenLoopRun = {
        round,
        load: percent,
        offeredBetsPerSecond: rate,
        betsPerSecond: Math.round(options.bets / server.seconds),
        ackP50Ms: server.ackP50Ms,
        ackP99Ms: server.ackP99Ms,
        ackP999Ms: server.ackP999Ms,
        ackMaxMs: server.ackMaxMs,
        stored: server.stored,
        sink: {
          betsPerSecond: Math.round(options.bets / sink.seconds),
          ackP50Ms: sink.ackP50Ms,
          ackP99Ms: sink.ackP99Ms,
          ackP999Ms: sink.ackP999Ms,
        },
      };
      runs.push(run);
      say(
        `bench latency: round ${round} at ${String(percent).padStart(3)}% ${rate.toLocaleString('en-US').padStart(10)} bets/s offered, ${run.betsPerSecond.toLocaleString('en-US').padStart(10)} taken; ack ms p50 ${ms(run.ackP50Ms)} p99 ${ms(run.ackP99Ms)} p99.9 ${ms(run.ackP999Ms)} max ${ms(run.ackMaxMs)}; raw sink p50 ${ms(sink.ackP50Ms)} p99 ${ms(sink.ackP99Ms)} p99.9 ${ms(sink.ackP999Ms)}`,
      );
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
