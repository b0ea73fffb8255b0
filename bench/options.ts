// The benchmark's command line. Kept apart so that --help and the checks on
// each flag read in one place.
import { parseArgs } from 'node:util';

export type LoadOptions = {
  mode: 'load';
  agencies: number;
  /** Total over all agencies, split evenly (the first N mod K agencies take one more). */
  bets: number;
  fsync: boolean;
  window: number;
  /** The open loop: the agencies offer this many bets a second together, whatever is acknowledged; `window` is then unused. */
  rate: number | undefined;
  seed: number;
  json: boolean;
  /** Start the server with --cpu-prof into this directory. */
  cpuProf: string | undefined;
  /** Mutual TLS between the load agencies and the server; both = interleaved runs of each, and their ratio. */
  tls: 'on' | 'off' | 'both';
  /** Runs of each for --tls both. */
  rounds: number;
  /** A PostgreSQL URL: the load runs on the data dir and on this database, interleaved, and their ratio is printed. */
  store: string | undefined;
  timeoutSeconds: number;
};

export type CourseOptions = { mode: 'course'; dir: string | undefined; runs: number; json: boolean; timeoutSeconds: number };

export type HostileBenchOptions = { mode: 'hostile'; rounds: number; json: boolean; timeoutSeconds: number };

/**
 * Latency mode: the load mode's options (closed loop, TLS on or off) for the
 * run that measures the maximum, then open-loop runs at `loads` percent of it.
 */
export type LatencyOptions = Omit<LoadOptions, 'mode' | 'rate' | 'tls'> & { mode: 'latency'; tls: 'on' | 'off'; loads: number[] };

export type BenchOptions = LoadOptions | CourseOptions | HostileBenchOptions | LatencyOptions;

export const HELP = `Usage:
  npm run bench -- --agencies K --bets N [--fsync on|off] [--tls on|off|both] [--rate R] [--json]
  npm run bench -- --agencies K --bets N [--fsync on|off] --store URL [--rounds R] [--json]
  npm run bench -- --mode latency --agencies K --bets N [--loads 50,90] [--rounds R] [--json]
  npm run bench -- --mode course [--dir DIR] [--runs R] [--json]
  npm run bench -- --mode hostile [--rounds R] [--json]

Load mode (the default) times the real lottery-server (src/bin/lottery-server.ts,
--log-level warn, every limit at its default, a fresh temp data dir) under K
concurrent load agencies in this process, each from a loopback address of its
own (127.0.0.1, 127.0.0.2, …), that send pre-encoded BETS frames, then the
same frames against a raw sink that only reads frame headers and answers
pre-encoded ACKs: the limit of this machine and this load generator. It
checks that bets.csv holds N rows, and prints the server's CPU per bet.

  --agencies K     concurrent agencies, ids 1..K (default 5)
  --bets N         bets in TOTAL, split evenly over the K agencies (default 100000)
  --fsync on|off   passed to the server (default on)
  --window W       batches in flight per agency, as the real agency (default 8)
  --rate R         the open loop: the agencies offer R bets a second together, each batch
                   sent when an agency offering its share would have filled it, whatever is
                   acknowledged; ack latency runs from when a batch was due, so time spent
                   queueing is counted; prints p50, p99 and p99.9 (the raw sink takes the
                   same schedule: the load generator's own latency)
  --seed S         seed of the generated bets; agency k uses S + k (default 1)
  --tls on|off     mutual TLS 1.3 between the agencies and the server, each agency with its
                   own certificate made as lottery-pki makes them (default off); the raw
                   sink runs plaintext, then over the same mutual TLS
  --tls both       R runs with TLS and R without, interleaved (off, on, on, off, …), and the
                   raw sink the same way, plaintext and over the same mutual TLS; prints each
                   run, the ratios of the medians, and the CPU per bet of both sides
  --rounds R       runs of each for --tls both or --store, rounds of latency mode (default 3)
  --store URL      R runs on a data dir and R on this PostgreSQL database (each its own lottery,
                   left in it), interleaved; prints each run, the database's bets/s as a share
                   of the files', and where the database's time goes (pg_stat_statements-free:
                   the server's CPU by thread against the run's seconds)
  --cpu-prof DIR   run the server with node --cpu-prof, one .cpuprofile per thread in DIR
                   (summarise them with: node_modules/.bin/node bench/profile-summary.ts DIR)

Latency mode runs, in each of R rounds (default 3), one server and on it, each
with agency ids of its own: K agencies sending N bets in the closed loop to
warm it up, the same again for the maximum, then the open loop (--rate) at
each of --loads percent of that maximum (default 50,90); after each open-loop
run, the raw sink takes the same schedule. Prints each run and the medians of
the ack p50, p99 and p99.9 at each load. Takes --agencies, --bets, --fsync,
--tls on|off, --window (the closed loop's), --seed.

Hostile mode measures the server's CPU per frame (all its threads, from /proc)
for the worst frames under 8 KiB a peer can build (src/harness/hostile-frames.ts)
against honest frames, in R interleaved rounds (default 3), with one session
worker and a neighbour pinging it every 2 ms to show what the others pay.

Course mode times the real programs on the course dataset: lottery-server and
lottery-agency 1..5, from server start to the last agency's exit; prints the
median of R runs and checks every run's outcome.

  --dir DIR        agency-1.csv .. agency-5.csv (default: ../shared/data/tp0-dataset.zip
                   extracted to a temp dir, or else .data/)
  --runs R         runs (default 5)

Both:
  --json           also print one JSON line on stdout (the table goes to stderr)
  --timeout S      give up after S seconds, stopping whatever was started (default 900)
  --help`;

export function parseBenchOptions(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      mode: { type: 'string', default: 'load' },
      agencies: { type: 'string', default: '5' },
      bets: { type: 'string', default: '100000' },
      fsync: { type: 'string', default: 'on' },
      window: { type: 'string', default: '8' },
      rate: { type: 'string' },
      loads: { type: 'string', default: '50,90' },
      seed: { type: 'string', default: '1' },
      'cpu-prof': { type: 'string' },
      tls: { type: 'string', default: 'off' },
      store: { type: 'string' },
      dir: { type: 'string' },
      runs: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      json: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '900' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const timeoutSeconds = positive('timeout', values.timeout);
  if (values.mode === 'course') {
    return { mode: 'course', dir: values.dir, runs: positive('runs', values.runs), json: values.json, timeoutSeconds };
  }
  if (values.mode === 'hostile') return { mode: 'hostile', rounds: positive('rounds', values.rounds), json: values.json, timeoutSeconds };
  if (values.mode !== 'load' && values.mode !== 'latency')
    throw new TypeError(`--mode must be load, latency, course or hostile, got ${values.mode}`);
  if (values.fsync !== 'on' && values.fsync !== 'off') throw new TypeError(`--fsync must be on or off, got ${values.fsync}`);
  if (values.tls !== 'on' && values.tls !== 'off' && values.tls !== 'both')
    throw new TypeError(`--tls must be on, off or both, got ${values.tls}`);
  const common = {
    agencies: positive('agencies', values.agencies),
    bets: positive('bets', values.bets),
    fsync: values.fsync === 'on',
    window: positive('window', values.window),
    seed: natural('seed', values.seed),
    json: values.json,
    cpuProf: values['cpu-prof'],
    rounds: positive('rounds', values.rounds),
    store: values.store,
    timeoutSeconds,
  };
  if (values.mode === 'latency') {
    if (values.tls === 'both') throw new TypeError('--tls must be on or off in latency mode, got both');
    if (values.rate !== undefined) throw new TypeError('--rate is for load mode: latency mode sets its rates from --loads');
    if (values.store !== undefined) throw new TypeError('--store is for load mode: latency mode runs on a data dir');
    const loads = values.loads.split(',').map((load) => positive('loads', load.trim()));
    return { ...common, mode: 'latency', tls: values.tls, loads };
  }
  const rate = values.rate === undefined ? undefined : positive('rate', values.rate);
  if (rate !== undefined && values.tls === 'both') throw new TypeError('--rate goes with --tls on or off, not both');
  if (rate !== undefined && values.store !== undefined)
    throw new TypeError('--rate goes without --store: --store compares closed-loop runs');
  return { ...common, mode: 'load', rate, tls: values.tls };
}

function natural(name: string, text: string, least = 0): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < least) {
    throw new TypeError(`--${name} must be ${least === 0 ? 'a non-negative' : 'a positive'} integer, got ${text}`);
  }
  return value;
}

function positive(name: string, text: string): number {
  return natural(name, text, 1);
}
