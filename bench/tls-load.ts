// Load mode over mutual TLS: certificates for every load agency, made as
// lottery-pki makes them in a temp dir, and --tls both, which runs the same
// load with and without TLS, interleaved so that a busy machine's drift
// falls on both alike, and reports the ratio of the medians. Each round also
// runs the raw sink both ways: a server that does nothing but read frame
// headers and answer ACKs, over the same mutual TLS. What TLS costs it is
// what TLS costs on this machine with this load generator, whatever the
// server does; and the CPU both sides use per bet says where it goes.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverTlsFilesIn } from '../src/harness/tls-args.ts';
import { makePkiDirectory } from '../src/pki/pki-directory.ts';
import type { ClientTlsFiles } from '../src/transport/client-tls.ts';
import type { AgencyFrames } from './load-frames.ts';
import { runLoad } from './load-run.ts';
import type { LoadOptions } from './options.ts';
import { processCpuNs } from './process-cpu.ts';
import { startRawSink } from './raw-sink.ts';
import { runServer, type ServerRunOptions, type ServerRunResult } from './server-run.ts';
import { median } from './stats.ts';

export type BenchPki = NonNullable<ServerRunOptions['pki']> & { remove(): Promise<void> };

/** A CA, the server's certificate and one per agency 1..K, read into memory once. */
export async function benchPki(agencies: number): Promise<BenchPki> {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-bench-pki-'));
  await makePkiDirectory({ dir, agencies, hosts: ['127.0.0.1'], days: 1, caDays: 1, force: false });
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
  const files: ClientTlsFiles[] = [];
  for (let agency = 1; agency <= agencies; agency++) {
    files[agency] = {
      ca,
      cert: await readFile(join(dir, `agency-${agency}.crt`), 'utf8'),
      key: await readFile(join(dir, `agency-${agency}.key`), 'utf8'),
    };
  }
  return { dir, tlsFor: (agency) => files[agency], remove: () => rm(dir, { recursive: true, force: true }) };
}

export type TlsComparison = {
  mode: 'load-tls-both';
  bets: number;
  agencies: number;
  fsync: 'on' | 'off';
  rounds: number;
  /** bets/s of each run, in the order run. */
  runs: Array<{
    tls: 'on' | 'off';
    betsPerSecond: number;
    serverCpuMicrosPerBet: number;
    /** The same by thread name (see threadsCpuNs). */
    serverThreadsCpuMicrosPerBet: Record<string, number>;
    /** This process's CPU per bet: the load agencies. */
    clientCpuMicrosPerBet: number;
    stored: number;
    serverPeakRssMb: number;
  }>;
  /** The raw sink, plaintext and over mutual TLS, in the same rounds. */
  sinkRuns: Array<{ tls: 'on' | 'off'; betsPerSecond: number; sinkCpuMicrosPerBet: number; clientCpuMicrosPerBet: number }>;
  medianOff: number;
  medianOn: number;
  /** Median bets/s with TLS over the median without: 1 means TLS costs nothing. */
  ratio: number;
  /**
   * Median server CPU per bet with TLS over the median without: what TLS
   * costs the server itself, apart from the load agencies, which share the
   * machine's cores and do their own TLS.
   */
  serverCpuRatio: number;
  /** The same ratio by thread name: where in the server TLS's cost falls. */
  serverThreadsCpuRatio: Record<string, number>;
  /** The raw sink's median bets/s with TLS over its median without: what TLS costs when the server does nothing. */
  sinkRatio: number;
  /** Median CPU per bet of both sides together (server or sink, and the load agencies), µs. */
  cpuMicrosPerBet: { server: { on: number; off: number }; sink: { on: number; off: number } };
  ok: boolean;
};

export async function compareTls(
  load: readonly AgencyFrames[],
  options: LoadOptions,
  pki: BenchPki,
  say: (line: string) => void,
): Promise<TlsComparison> {
  const runs: TlsComparison['runs'] = [];
  const sinkRuns: TlsComparison['sinkRuns'] = [];
  const sinkTls = await serverTlsFilesIn(pki.dir);
  const microsPerBet = (ms: number) => Math.round((ms * 1000 * 100) / options.bets) / 100;
  for (let round = 0; round < options.rounds; round++) {
    // off, on, then on, off: neither always goes first.
    const order = round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
    for (const tls of order) {
      const result: ServerRunResult = await runServer(load, { ...options, ...(tls === 'on' ? { pki } : {}) });
      const betsPerSecond = Math.round(options.bets / result.seconds);
      const serverCpuMicrosPerBet = microsPerBet(result.serverCpuMs);
      const serverThreadsCpuMicrosPerBet = Object.fromEntries(
        Object.entries(result.serverThreadsCpuMs).map(([name, ms]) => [name, microsPerBet(ms)]),
      );
      runs.push({
        tls,
        betsPerSecond,
        serverCpuMicrosPerBet,
        serverThreadsCpuMicrosPerBet,
        clientCpuMicrosPerBet: microsPerBet(result.clientCpuMs),
        stored: result.stored,
        serverPeakRssMb: Math.round(result.serverPeakRssMb),
      });
      const threads = Object.entries(serverThreadsCpuMicrosPerBet)
        .filter(([, micros]) => micros >= 0.01)
        .map(([name, micros]) => `${name} ${micros.toFixed(2)}`)
        .join(', ');
      say(
        `bench: round ${round + 1} tls ${tls.padEnd(3)} ${betsPerSecond.toLocaleString('en-US').padStart(10)} bets/s  ${result.seconds.toFixed(3)} s  server CPU ${serverCpuMicrosPerBet.toFixed(2)} µs/bet (${threads})  agencies ${microsPerBet(result.clientCpuMs).toFixed(2)} µs/bet  peak RSS ${result.serverPeakRssMb.toFixed(0)} MiB  stored ${result.stored}`,
      );
    }
    for (const tls of order) {
      const sink = await startRawSink(load, tls === 'on' ? sinkTls : undefined);
      try {
        const before = await processCpuNs(sink.pid);
        const result = await runLoad(sink.port, load, options.window, tls === 'on' ? pki.tlsFor : undefined);
        const sinkCpuMicrosPerBet = microsPerBet(((await processCpuNs(sink.pid)) - before) / 1e6);
        const run = {
          tls,
          betsPerSecond: Math.round(options.bets / result.seconds),
          sinkCpuMicrosPerBet,
          clientCpuMicrosPerBet: microsPerBet(result.clientCpuMs),
        };
        sinkRuns.push(run);
        say(
          `bench: round ${round + 1} tls ${tls.padEnd(3)} ${run.betsPerSecond.toLocaleString('en-US').padStart(10)} bets/s  raw sink  sink CPU ${run.sinkCpuMicrosPerBet.toFixed(2)} µs/bet  agencies ${run.clientCpuMicrosPerBet.toFixed(2)} µs/bet`,
        );
      } finally {
        await sink.stop();
      }
    }
  }
  const medianOf = (tls: 'on' | 'off') => median(runs.filter((run) => run.tls === tls).map((run) => run.betsPerSecond));
  const medianOff = medianOf('off');
  const medianOn = medianOf('on');
  const ratio = Math.round((medianOn / medianOff) * 1000) / 1000;
  const cpuOf = (tls: 'on' | 'off') => median(runs.filter((run) => run.tls === tls).map((run) => run.serverCpuMicrosPerBet));
  const serverCpuRatio = Math.round((cpuOf('on') / cpuOf('off')) * 1000) / 1000;
  const threadOf = (tls: 'on' | 'off', name: string) =>
    median(runs.filter((run) => run.tls === tls).map((run) => run.serverThreadsCpuMicrosPerBet[name] ?? 0));
  // Threads that barely run (the inspector's signal thread, V8's delayed-task scheduler) are left out.
  const names = [...new Set(runs.flatMap((run) => Object.keys(run.serverThreadsCpuMicrosPerBet)))].filter(
    (name) => threadOf('off', name) >= 0.01,
  );
  const serverThreadsCpuRatio = Object.fromEntries(
    names.map((name) => [name, Math.round((threadOf('on', name) / threadOf('off', name)) * 1000) / 1000]),
  );
  say(
    `bench: median ${medianOn.toLocaleString('en-US')} bets/s with TLS, ${medianOff.toLocaleString('en-US')} without: TLS at ${(ratio * 100).toFixed(1)}% (costs ${((1 - ratio) * 100).toFixed(1)}%)`,
  );
  say(
    `bench: median server CPU ${cpuOf('on').toFixed(2)} µs/bet with TLS, ${cpuOf('off').toFixed(2)} without: TLS costs the server ${((serverCpuRatio - 1) * 100).toFixed(1)}% more CPU per bet`,
  );
  for (const name of names) {
    say(
      `bench:   ${name.padEnd(16)} ${threadOf('on', name).toFixed(2)} µs/bet with TLS, ${threadOf('off', name).toFixed(2)} without (×${serverThreadsCpuRatio[name].toFixed(2)})`,
    );
  }
  const sinkOf = (tls: 'on' | 'off', pick: (run: TlsComparison['sinkRuns'][number]) => number) =>
    median(sinkRuns.filter((run) => run.tls === tls).map(pick));
  const sinkRatio = Math.round((sinkOf('on', (run) => run.betsPerSecond) / sinkOf('off', (run) => run.betsPerSecond)) * 1000) / 1000;
  const hundredths = (micros: number) => Math.round(micros * 100) / 100;
  const bothOf = (tls: 'on' | 'off') =>
    hundredths(median(runs.filter((run) => run.tls === tls).map((run) => run.serverCpuMicrosPerBet + run.clientCpuMicrosPerBet)));
  const sinkBothOf = (tls: 'on' | 'off') => hundredths(sinkOf(tls, (run) => run.sinkCpuMicrosPerBet + run.clientCpuMicrosPerBet));
  const cpuMicrosPerBet = {
    server: { on: bothOf('on'), off: bothOf('off') },
    sink: { on: sinkBothOf('on'), off: sinkBothOf('off') },
  };
  say(
    `bench: raw sink, same load: median ${sinkOf('on', (run) => run.betsPerSecond).toLocaleString('en-US')} bets/s with TLS, ${sinkOf('off', (run) => run.betsPerSecond).toLocaleString('en-US')} without: TLS at ${(sinkRatio * 100).toFixed(1)}% (costs ${((1 - sinkRatio) * 100).toFixed(1)}%)`,
  );
  for (const [what, cpu] of [
    ['server', cpuMicrosPerBet.server],
    ['raw sink', cpuMicrosPerBet.sink],
  ] as const) {
    say(
      `bench: CPU of both sides with the ${what.padEnd(8)} ${cpu.on.toFixed(2)} µs/bet with TLS, ${cpu.off.toFixed(2)} without: TLS adds ${(cpu.on - cpu.off).toFixed(2)} µs/bet`,
    );
  }
  return {
    mode: 'load-tls-both',
    bets: options.bets,
    agencies: options.agencies,
    fsync: options.fsync ? 'on' : 'off',
    rounds: options.rounds,
    runs,
    medianOff,
    medianOn,
    ratio,
    serverCpuRatio,
    serverThreadsCpuRatio,
    sinkRuns,
    sinkRatio,
    cpuMicrosPerBet,
    ok: runs.every((run) => run.stored === options.bets),
  };
}
