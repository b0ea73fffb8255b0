// Runs every load agency at once against a port and times the whole: from
// the first connect to the last FINISH acknowledged.
import { agencyTls, runLoadAgency, type Pace } from './load-agency.ts';
import type { AgencyFrames } from './load-frames.ts';
import { agencySchedule } from './load-schedule.ts';
import { latencySummary } from './stats.ts';
import type { ClientTlsFiles } from '../src/transport/client-tls.ts';

/**
 * `retries`: connections tried again, over all agencies, because they failed
 * before WELCOME; `clientCpuMs`: this process's CPU time meanwhile (the load
 * agencies' work, TLS included).
 */
export type LoadRunResult = {
  seconds: number;
  batches: number;
  ackP50Ms: number;
  ackP99Ms: number;
  ackP999Ms: number;
  ackMaxMs: number;
  retries: number;
  clientCpuMs: number;
};

/**
 * The address the load agency at place `place` (from 1) connects from: one
 * of its own, as agencies spread over a country have (Linux answers every
 * 127.0.0.0/8 address on loopback), so that the server's limits per address
 * see what they would see in the field.
 */
export function loopbackAddressOf(place: number): string {
  if (!Number.isInteger(place) || place < 1 || place > 0xffffff) throw new RangeError(`no loopback address for place ${place}`);
  return `127.${(place >> 16) & 0xff}.${(place >> 8) & 0xff}.${place & 0xff}`;
}

/**
 * `tlsFor`: each agency's certificate for mutual TLS; plaintext without.
 * `rate`: the open loop, the agencies offering this many bets a second
 * together, each batch sent when due (load-schedule.ts); without, each
 * agency keeps `window` batches in flight.
 */
export async function runLoad(
  port: number,
  load: readonly AgencyFrames[],
  window: number,
  tlsFor?: (agency: number) => ClientTlsFiles,
  rate?: number,
): Promise<LoadRunResult> {
  // Phases by place in the load, not by id: a later phase of a run on one server has ids from K + 1 on.
  const paces = load.map((agency, i): Pace =>
    rate === undefined
      ? { window }
      : {
          schedule: agencySchedule(
            agency.bets.map(({ end }) => end),
            rate,
            load.length,
            i + 1,
          ),
        },
  );
  const contexts = tlsFor === undefined ? undefined : load.map((agency) => agencyTls(tlsFor(agency.agency)));
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const results = await Promise.all(
    load.map((agency, i) => runLoadAgency(port, agency, paces[i], contexts?.[i], loopbackAddressOf(i + 1))),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const latencies = latencySummary(results.map(({ latencies }) => latencies));
  return {
    seconds,
    batches: results.reduce((sum, { latencies }) => sum + latencies.length, 0),
    ackP50Ms: latencies.p50,
    ackP99Ms: latencies.p99,
    ackP999Ms: latencies.p999,
    ackMaxMs: latencies.max,
    retries: results.reduce((sum, result) => sum + result.retries, 0),
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
}
