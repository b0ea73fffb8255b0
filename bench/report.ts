// What the bench prints: a table for a person, one JSON line for a script.
import { availableParallelism } from 'node:os';
import type { LoadOptions } from './options.ts';
import type { LoadRunResult } from './load-run.ts';
import type { ServerRunResult } from './server-run.ts';

export type LoadReport = {
  mode: 'load';
  bets: number;
  agencies: number;
  stored: number;
  seconds: number;
  betsPerSecond: number;
  ackP50Ms: number;
  ackP99Ms: number;
  ackP999Ms: number;
  ackMaxMs: number;
  /** Connections the load agencies tried again because they failed before WELCOME. */
  retries: number;
  serverPeakRssMb: number;
  /** CPU time of all the server's threads while the load ran, per bet: what holds on a machine shared with other work. */
  serverCpuMicrosPerBet: number;
  /** The load agencies' (this process's) CPU per bet meanwhile. */
  clientCpuMicrosPerBet: number;
  limitSeconds: number;
  limitBetsPerSecond: number;
  limitAckP50Ms: number;
  limitAckP99Ms: number;
  limitAckP999Ms: number;
  /** With TLS, the raw sink over the same mutual TLS (null without): what the handshakes and records alone cost here. */
  tlsLimitSeconds: number | null;
  tlsLimitBetsPerSecond: number | null;
  fsync: 'on' | 'off';
  tls: 'on' | 'off';
  window: number;
  /** The open loop's offered bets/s (--rate); null for the closed loop, `window` in flight. */
  rate: number | null;
  frames: number;
  bytes: number;
  node: string;
  cpus: number;
};

export function loadReport(
  options: LoadOptions,
  size: { frames: number; bytes: number },
  server: ServerRunResult,
  limit: LoadRunResult,
  tlsLimit?: LoadRunResult,
): LoadReport {
  return {
    mode: 'load',
    bets: options.bets,
    agencies: options.agencies,
    stored: server.stored,
    seconds: round(server.seconds, 3),
    betsPerSecond: Math.round(options.bets / server.seconds),
    ackP50Ms: round(server.ackP50Ms, 2),
    ackP99Ms: round(server.ackP99Ms, 2),
    ackP999Ms: round(server.ackP999Ms, 2),
    ackMaxMs: round(server.ackMaxMs, 2),
    retries: server.retries,
    serverPeakRssMb: round(server.serverPeakRssMb, 1),
    serverCpuMicrosPerBet: round((server.serverCpuMs * 1000) / options.bets, 3),
    clientCpuMicrosPerBet: round((server.clientCpuMs * 1000) / options.bets, 3),
    limitSeconds: round(limit.seconds, 3),
    limitBetsPerSecond: Math.round(options.bets / limit.seconds),
    limitAckP50Ms: round(limit.ackP50Ms, 2),
    limitAckP99Ms: round(limit.ackP99Ms, 2),
    limitAckP999Ms: round(limit.ackP999Ms, 2),
    tlsLimitSeconds: tlsLimit === undefined ? null : round(tlsLimit.seconds, 3),
    tlsLimitBetsPerSecond: tlsLimit === undefined ? null : Math.round(options.bets / tlsLimit.seconds),
    fsync: options.fsync ? 'on' : 'off',
    tls: options.tls === 'on' ? 'on' : 'off',
    window: options.window,
    rate: options.rate ?? null,
    frames: size.frames,
    bytes: size.bytes,
    node: process.versions.node,
    cpus: availableParallelism(),
  };
}

export function loadTable(r: LoadReport): string {
  const row = (name: string, seconds: number, perSecond: number, p50: number, p99: number, p999: number) =>
    `${name.padEnd(18)}${seconds.toFixed(3).padStart(9)}${perSecond.toLocaleString('en-US').padStart(13)}${p50.toFixed(2).padStart(12)}${p99.toFixed(2).padStart(12)}${p999.toFixed(2).padStart(14)}`;
  const pace = r.rate === null ? `window ${r.window}` : `open loop at ${r.rate.toLocaleString('en-US')} bets/s offered`;
  return [
    `bench: ${r.bets} bets from ${r.agencies} agencies (${r.frames} frames, ${(r.bytes / 1e6).toFixed(1)} MB), fsync ${r.fsync}, tls ${r.tls}, ${pace}, node ${r.node}, ${r.cpus} cpus`,
    `${''.padEnd(18)}${'seconds'.padStart(9)}${'bets/s'.padStart(13)}${'ack p50 ms'.padStart(12)}${'ack p99 ms'.padStart(12)}${'ack p99.9 ms'.padStart(14)}`,
    row('lottery-server', r.seconds, r.betsPerSecond, r.ackP50Ms, r.ackP99Ms, r.ackP999Ms),
    row(
      r.rate === null ? 'raw sink (limit)' : 'raw sink',
      r.limitSeconds,
      r.limitBetsPerSecond,
      r.limitAckP50Ms,
      r.limitAckP99Ms,
      r.limitAckP999Ms,
    ),
    ...(r.tlsLimitSeconds === null || r.tlsLimitBetsPerSecond === null
      ? []
      : [
          `${'raw sink, TLS'.padEnd(18)}${r.tlsLimitSeconds.toFixed(3).padStart(9)}${r.tlsLimitBetsPerSecond.toLocaleString('en-US').padStart(13)}   (the same mutual TLS: server at ${((100 * r.betsPerSecond) / r.tlsLimitBetsPerSecond).toFixed(1)}% of it)`,
        ]),
    `server at ${((100 * r.betsPerSecond) / r.limitBetsPerSecond).toFixed(1)}% of the limit; slowest ack ${r.ackMaxMs.toFixed(1)} ms; server peak RSS ${r.serverPeakRssMb.toFixed(1)} MiB; server CPU ${r.serverCpuMicrosPerBet.toFixed(2)} µs/bet, agencies ${r.clientCpuMicrosPerBet.toFixed(2)}; ${r.retries} connections tried again before WELCOME`,
    `bets.csv: ${r.stored} rows, expected ${r.bets}: ${r.stored === r.bets ? 'OK' : 'WRONG'}`,
  ].join('\n');
}

export type CourseReport = {
  mode: 'course';
  bets: number;
  agencies: number;
  runs: number;
  seconds: number;
  secondsEach: number[];
  betsPerSecond: number;
  ok: boolean;
  node: string;
  cpus: number;
};

export function courseTable(r: CourseReport, source: string): string {
  return [
    `bench course: ${r.bets} bets from ${r.agencies} agencies (${source}), ${r.runs} runs, node ${r.node}, ${r.cpus} cpus`,
    `server start to the last agency's exit: ${r.secondsEach.map((s) => s.toFixed(2)).join(' s, ')} s`,
    `median ${r.seconds.toFixed(2)} s = ${r.betsPerSecond.toLocaleString('en-US')} bets/s; outcome ${r.ok ? 'OK in every run' : 'WRONG'}`,
  ].join('\n');
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
