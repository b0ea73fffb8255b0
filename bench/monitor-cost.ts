// What the operator's HTTP endpoint costs under load: the same load (64
// agencies by default, fsync on) against the real server without
// --http-port, and with it and a scraper that reads /metrics and
// /status.json once a second, the two interleaved in one run (their order
// alternating), so that the machine's other load falls on both alike.
// Prints bets/s of each and the ratio; asserts nothing about time.
//   node_modules/.bin/node bench/monitor-cost.ts [--agencies 64] [--bets 2000000] [--rounds 3]
import { get } from 'node:http';
import { parseArgs } from 'node:util';
import { encodeLoad } from './load-frames.ts';
import { runServer, stopRunningServer, type ServerRunResult } from './server-run.ts';
import type { RunningServer } from '../src/harness/lottery-processes.ts';

const { values } = parseArgs({
  options: {
    agencies: { type: 'string', default: '64' },
    bets: { type: 'string', default: '2000000' },
    rounds: { type: 'string', default: '3' },
  },
});
const agencies = Number(values.agencies);
const bets = Number(values.bets);
const rounds = Number(values.rounds);

/** Both variants log alike: at info, without the per-batch lines, so that the `listen` lines tell the ports. */
const LOGS = ['--log-level', 'info', '--log-batches', 'off'];

function scrape(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, timeout: 5000 }, (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.on('end', () => (response.statusCode === 200 ? resolve(bytes) : reject(new Error(`${path}: ${response.statusCode}`))));
    }).on('error', reject);
  });
}

/** Reads /metrics and /status.json once a second until stopped; counts the scrapes. */
function scraper(server: RunningServer, scrapes: { count: number; bytes: number }) {
  const match = server.lines.map((line) => /action: listen_http \| result: success .*\| port: (\d+)/.exec(line)).find((m) => m !== null);
  if (match == null) throw new Error('the server logged no listen_http line');
  const port = Number(match[1]);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      for (const path of ['/metrics', '/status.json']) {
        scrapes.bytes += await scrape(port, path);
        scrapes.count++;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

console.log(`monitor-cost: encoding ${bets} bets for ${agencies} agencies…`);
const load = encodeLoad(bets, agencies, 1);
const perSecond = (run: ServerRunResult) => run.stored / run.seconds;
const ratios: number[] = [];
/** Server CPU per bet, with over without: what the machine's other load changes least. */
const cpuRatios: number[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    const scrapes = { count: 0, bytes: 0 };
    const base = { agencies, fsync: true, window: 8, cpuProf: undefined };
    const plain = () => runServer(load, { ...base, serverArgs: LOGS });
    const watched = () =>
      runServer(load, { ...base, serverArgs: [...LOGS, '--http-port', '0'], beside: (server) => scraper(server, scrapes) });
    // Alternate which goes first, so that neither always meets a warmer or busier machine.
    const [without, withMonitor] = round % 2 === 1 ? [await plain(), await watched()] : [await watched(), await plain()].reverse();
    for (const run of [without, withMonitor]) {
      if (run.stored !== bets || run.serverCode !== 0)
        throw new Error(`a run stored ${run.stored} of ${bets} bets (exit ${run.serverCode})`);
    }
    const ratio = perSecond(withMonitor) / perSecond(without);
    ratios.push(ratio);
    const cpuRatio = withMonitor.serverCpuMs / without.serverCpuMs;
    cpuRatios.push(cpuRatio);
    console.log(
      `round ${round}: without ${Math.round(perSecond(without)).toLocaleString('en-US')} bets/s (${without.seconds.toFixed(2)} s), ` +
        `with endpoint + scraper ${Math.round(perSecond(withMonitor)).toLocaleString('en-US')} bets/s (${withMonitor.seconds.toFixed(2)} s, ` +
        `${scrapes.count} scrapes, ${scrapes.bytes} bytes): ratio ${ratio.toFixed(3)}; ` +
        `server CPU ${Math.round(without.serverCpuMs)} → ${Math.round(withMonitor.serverCpuMs)} ms, ratio ${cpuRatio.toFixed(3)}`,
    );
  }
} finally {
  await stopRunningServer();
}
const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `median of ${rounds}: ${sorted[Math.floor(sorted.length / 2)].toFixed(3)} (min ${sorted[0].toFixed(3)}, max ${sorted.at(-1)!.toFixed(3)})`;
};
console.log(`monitor-cost: with/without bets/s, ${summary(ratios)}`);
console.log(`monitor-cost: with/without server CPU for the same bets, ${summary(cpuRatios)}`);
