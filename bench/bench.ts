// npm run bench -- --help
// Measures; never asserts timings. Exits 1 only when the outcome is wrong
// (bets.csv does not hold every bet) or something failed.
import { courseMode } from './course-mode.ts';
import { hostileMode } from './hostile.ts';
import { encodeLoad, loadSize } from './load-frames.ts';
import { latencyMode } from './latency-mode.ts';
import { runLoad } from './load-run.ts';
import { HELP, parseBenchOptions, type LoadOptions } from './options.ts';
import { startRawSink } from './raw-sink.ts';
import { loadReport, loadTable } from './report.ts';
import { stopAllPrograms } from '../src/harness/lottery-processes.ts';
import { runServer, stopRunningServer } from './server-run.ts';
import { benchPki, compareTls } from './tls-load.ts';
import { compareStores } from './store-load.ts';
import { serverTlsFilesIn } from '../src/harness/tls-args.ts';

let options;
try {
  options = parseBenchOptions(process.argv.slice(2));
} catch (error) {
  console.error(`bench: ${(error as Error).message}\n\n${HELP}`);
  process.exit(2);
}
if (options === 'help') {
  console.log(HELP);
  process.exit(0);
}

// Every run is bounded: past the timeout no new run starts, whatever was
// started gets SIGTERM, and the bench exits 1; what fails meanwhile because
// of it is not reported.
const givingUp = new AbortController();
setTimeout(() => {
  console.error(`bench: gave up after ${options.timeoutSeconds} s`);
  givingUp.abort();
  void stopRunningServer()
    .then(() => stopAllPrograms())
    .finally(() => process.exit(1));
}, options.timeoutSeconds * 1000).unref();

// With --json, stdout carries only the JSON line (npm adds its own banner above it).
const say = options.json ? console.error : console.log;

try {
  if (options.mode === 'course') {
    const { report, table, failures } = await courseMode(options, givingUp.signal);
    if (!givingUp.signal.aborted) {
      say(table);
      if (failures.length > 0) console.error(`bench course: FAILED\n${failures.join('\n')}`);
      if (options.json) console.log(JSON.stringify(report));
      process.exitCode = failures.length > 0 ? 1 : 0;
    }
  } else if (options.mode === 'latency') {
    const { report, table } = await latencyMode(options, givingUp.signal, say);
    if (!givingUp.signal.aborted) {
      say(table);
      if (options.json) console.log(JSON.stringify(report));
      process.exitCode = report.ok ? 0 : 1;
    }
  } else if (options.mode === 'hostile') {
    const { results, table } = await hostileMode(options, say);
    say(table);
    if (options.json) console.log(JSON.stringify(results));
  } else {
    process.exitCode = await loadMode(options);
  }
} catch (error) {
  if (!givingUp.signal.aborted) throw error;
  // The timeout is stopping everything and will exit.
  await new Promise(() => setInterval(() => undefined, 1000));
}

async function loadMode(options: LoadOptions): Promise<number> {
  say(`bench: encoding ${options.bets} bets for ${options.agencies} agencies…`);
  const load = encodeLoad(options.bets, options.agencies, options.seed);
  const size = loadSize(load);
  const pki = options.tls === 'off' ? undefined : await benchPki(options.agencies);
  try {
    if (options.store !== undefined) {
      const comparison = await compareStores(load, options, options.store, say);
      if (options.json) console.log(JSON.stringify(comparison));
      return comparison.ok ? 0 : 1;
    }
    if (options.tls === 'both') {
      const comparison = await compareTls(load, options, pki!, say);
      if (options.json) console.log(JSON.stringify(comparison));
      return comparison.ok ? 0 : 1;
    }
    const server = await runServer(load, { ...options, ...(pki === undefined ? {} : { pki }) });
    const sinkRun = async (tls: boolean) => {
      const sink = await startRawSink(load, tls ? await serverTlsFilesIn(pki!.dir) : undefined);
      try {
        return await runLoad(sink.port, load, options.window, tls ? pki!.tlsFor : undefined, options.rate);
      } finally {
        await sink.stop();
      }
    };
    const limit = await sinkRun(false);
    // Over TLS, the sink over the same mutual TLS too: the least the handshakes and records cost here, whatever a server does.
    const tlsLimit = pki === undefined ? undefined : await sinkRun(true);
    const report = loadReport(options, size, server, limit, tlsLimit);
    say(loadTable(report));
    if (options.json) console.log(JSON.stringify(report));
    return report.stored === report.bets && server.serverCode === 0 ? 0 : 1;
  } finally {
    await pki?.remove();
  }
}
