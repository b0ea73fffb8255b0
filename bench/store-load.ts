// --store URL: the same load on the data dir and on PostgreSQL, R runs of
// each, interleaved (files, database, then database, files, …), each
// database run on a lottery of its own; the ratio of the medians.
import { randomUUID } from 'node:crypto';
import type { AgencyFrames } from './load-frames.ts';
import type { LoadOptions } from './options.ts';
import { runServer, type ServerRunResult } from './server-run.ts';
import { median } from './stats.ts';

export type StoreComparison = {
  mode: 'store';
  bets: number;
  agencies: number;
  fsync: 'on' | 'off';
  runs: Array<{
    store: 'files' | 'postgres';
    betsPerSecond: number;
    ackP50Ms: number;
    ackP99Ms: number;
    stored: number;
    serverCpuMs: Record<string, number>;
    seconds: number;
  }>;
  postgresShare: number;
  ok: boolean;
};

export async function compareStores(
  load: readonly AgencyFrames[],
  options: LoadOptions,
  url: string,
  say: (line: string) => void,
): Promise<StoreComparison> {
  const runs: StoreComparison['runs'] = [];
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? (['files', 'postgres'] as const) : (['postgres', 'files'] as const);
    for (const store of order) {
      const lottery = `bench-${randomUUID().slice(0, 8)}`;
      const result: ServerRunResult = await runServer(load, {
        ...options,
        ...(store === 'postgres' ? { postgres: { url, lottery } } : {}),
      });
      const run = {
        store,
        betsPerSecond: Math.round(options.bets / result.seconds),
        ackP50Ms: Math.round(result.ackP50Ms * 10) / 10,
        ackP99Ms: Math.round(result.ackP99Ms * 10) / 10,
        stored: result.stored,
        seconds: Math.round(result.seconds * 1000) / 1000,
        serverCpuMs: Object.fromEntries(
          Object.entries(result.serverThreadsCpuMs)
            .filter(([, ms]) => ms >= 1)
            .map(([name, ms]) => [name, Math.round(ms)]),
        ),
      };
      runs.push(run);
      const threads = Object.entries(run.serverCpuMs)
        .map(([name, ms]) => `${name} ${ms} ms`)
        .join(', ');
      say(
        `bench: round ${round + 1} ${store.padEnd(8)} ${run.betsPerSecond.toLocaleString('en-US').padStart(10)} bets/s  ${run.seconds.toFixed(3)} s  ack p50 ${run.ackP50Ms} ms p99 ${run.ackP99Ms} ms  stored ${run.stored}  server CPU: ${threads}`,
      );
    }
  }
  const medianOf = (store: 'files' | 'postgres') => median(runs.filter((run) => run.store === store).map((run) => run.betsPerSecond));
  const postgresShare = Math.round((100 * medianOf('postgres')) / medianOf('files')) / 100;
  say(`bench: PostgreSQL at ${postgresShare}× the files' bets/s (medians of ${options.rounds} runs each)`);
  return {
    mode: 'store',
    bets: options.bets,
    agencies: options.agencies,
    fsync: options.fsync ? 'on' : 'off',
    runs,
    postgresShare,
    ok: runs.every((run) => run.stored === options.bets),
  };
}
