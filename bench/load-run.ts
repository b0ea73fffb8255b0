// Runs every load agency at once against a port and times the whole: from
// the first connect to the last FINISH acknowledged.
import { runLoadAgency } from './load-agency.ts';
import type { AgencyFrames } from './load-frames.ts';
import { percentile } from './stats.ts';
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
  ackMaxMs: number;
  retries: number;
  clientCpuMs: number;
};

/** `tlsFor`: each agency's certificate for mutual TLS; plaintext without. */
export async function runLoad(
  port: number,
  load: readonly AgencyFrames[],
  window: number,
  tlsFor?: (agency: number) => ClientTlsFiles,
): Promise<LoadRunResult> {
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const results = await Promise.all(load.map((agency) => runLoadAgency(port, agency, window, tlsFor?.(agency.agency))));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const batches = results.reduce((sum, { latencies }) => sum + latencies.length, 0);
  const all = new Float64Array(batches);
  let at = 0;
  for (const { latencies } of results) {
    all.set(latencies, at);
    at += latencies.length;
  }
  all.sort();
  const retries = results.reduce((sum, result) => sum + result.retries, 0);
  return {
    seconds,
    batches,
    ackP50Ms: percentile(all, 0.5),
    ackP99Ms: percentile(all, 0.99),
    ackMaxMs: all.at(-1) ?? 0,
    retries,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
}
