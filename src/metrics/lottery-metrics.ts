// The Prometheus families the server exposes, defined once for every
// thread. prom-client aggregates only `cluster` workers, so each thread
// keeps a registry of its own with the families it can measure, and the
// supervisor gathers their JSON on each scrape and merges it with
// AggregatorRegistry.aggregate (counters and histograms summed). No family
// has a per-agency label: 10,000 agencies would be 10,000 series.
import { Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { AGENCY_PHASES, type LotteryStatus } from '../ledger/lottery-status.ts';

/** A registry's figures as it hands them to another thread. */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** How a batch's BETS frame was answered: the ledger's outcomes, as the session saw them. */
export const BatchOutcome = { STORED: 'stored', DUPLICATE: 'duplicate', INVALID: 'invalid', REFUSED: 'refused' } as const;
export type BatchOutcome = (typeof BatchOutcome)[keyof typeof BatchOutcome];

/** From a few hundred microseconds (fsync off, idle) to seconds (a slow disk). */
const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BETS_BUCKETS = [1, 10, 100, 1000, 5000, 10_000, 50_000, 100_000, 500_000];

/** What a session worker measures. */
export function sessionMetrics() {
  const registry = new Registry();
  const batches = new Counter({
    name: 'lottery_batches_total',
    help: 'BETS batches answered, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const outcome of Object.values(BatchOutcome)) batches.inc({ outcome }, 0);
  const ack = new Histogram({
    name: 'lottery_ack_seconds',
    help: 'Time from a BETS frame received to its answer written',
    buckets: SECONDS_BUCKETS,
    registers: [registry],
  });
  return { registry, batches, ack };
}

/** What the store worker measures; `status` is read at each scrape. */
export function storeMetrics(status: () => LotteryStatus) {
  const registry = new Registry();
  new Counter({
    name: 'lottery_bets_stored_total',
    help: 'Bets stored in bets.csv (rows committed), recovered ones included',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(status().bets);
    },
  });
  new Gauge({
    name: 'lottery_agencies',
    help: "The lottery's agencies by state; they sum to the agency count",
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const { counts } = status();
      for (const state of AGENCY_PHASES) this.set({ state }, counts[state]);
    },
  });
  new Gauge({
    name: 'lottery_draw_done',
    help: '1 once the draw is made, else 0',
    registers: [registry],
    collect() {
      this.set(status().draw.state === 'drawn' ? 1 : 0);
    },
  });
  const commitSeconds = new Histogram({
    name: 'lottery_group_commit_seconds',
    help: 'Time a group commit takes, from decisions to both files synced',
    buckets: SECONDS_BUCKETS,
    registers: [registry],
  });
  const commitBets = new Histogram({
    name: 'lottery_group_commit_bets',
    help: 'Bets stored by one group commit',
    buckets: BETS_BUCKETS,
    registers: [registry],
  });
  return { registry, commitSeconds, commitBets };
}

/** What the supervisor measures on the main thread. */
export function mainMetrics(
  info: { version: string; agencies: number; store: string },
  connections: () => { agency: number; other: number },
) {
  const registry = new Registry();
  new Gauge({
    name: 'lottery_info',
    help: 'The server: version, agencies and store kind, as labels of a constant 1',
    labelNames: ['version', 'agencies', 'store'],
    registers: [registry],
  }).set({ version: info.version, agencies: String(info.agencies), store: info.store }, 1);
  new Gauge({
    name: 'lottery_connections',
    help: 'Connections open, by whether they speak for an agency yet',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      const { agency, other } = connections();
      this.set({ phase: 'agency' }, agency);
      this.set({ phase: 'other' }, other);
    },
  });
  return { registry };
}
