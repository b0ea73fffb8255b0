// A PING flood on one connection against a neighbour's PING round trip on
// the same session worker, over mutual TLS: the real lottery-server with
// --workers 1; a flooding agency that says HELLO and then keeps up to
// --window PINGs unanswered at all times (it reads its PONGs); a neighbour,
// another agency, that PINGs every 2 ms and times each round trip. Each
// round measures the neighbour alone (the yardstick) and beside the flood,
// interleaved, and prints the medians.
//   node bench/ping-flood.ts [--rounds R] [--seconds S] [--window W]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { hello, ping } from '../src/harness/hostile-frames.ts';
import { startServer } from '../src/harness/lottery-processes.ts';
import { clientTlsFilesIn, serverTlsArgs } from '../src/harness/tls-args.ts';
import { clientTlsOptions } from '../src/transport/client-tls.ts';
import { makePkiDirectory } from '../src/pki/pki-directory.ts';
import { percentile } from './stats.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    window: { type: 'string', default: '10000' },
  },
});
const PONG_BYTES = 8;

async function connectAgency(options: tls.ConnectionOptions, agency: number): Promise<tls.TLSSocket> {
  const socket = tls.connect(options);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  socket.write(hello(agency));
  await new Promise((resolve) => socket.once('data', resolve)); // WELCOME
  return socket;
}

/** PINGs every 2 ms for `ms`; the round trips in ms. */
async function neighbour(socket: tls.TLSSocket, ms: number): Promise<number[]> {
  const rtts: number[] = [];
  const until = performance.now() + ms;
  const frame = ping();
  while (performance.now() < until) {
    const started = performance.now();
    const answered = new Promise((resolve) => socket.once('data', resolve));
    socket.write(frame);
    await answered;
    rtts.push(performance.now() - started);
    await sleep(2);
  }
  return rtts;
}

/** Keeps `window` PINGs unanswered until stopped; how many PONGs came back. */
function flood(socket: tls.TLSSocket, window: number): { stop: () => number } {
  let answered = 0;
  let pending = 0;
  let running = true;
  const burst = Buffer.concat(new Array(1000).fill(ping()));
  const top = () => {
    while (running && pending + 1000 <= window) {
      socket.write(burst);
      pending += 1000;
    }
  };
  socket.on('data', (chunk: Buffer) => {
    const pongs = chunk.length / PONG_BYTES;
    answered += pongs;
    pending -= pongs;
    top();
  });
  top();
  return {
    stop: () => {
      running = false;
      socket.destroy();
      return answered;
    },
  };
}

const dir = await mkdtemp(join(tmpdir(), 'lottery-ping-flood-'));
try {
  const pki = join(dir, 'pki');
  await makePkiDirectory({ dir: pki, agencies: 1000, hosts: ['127.0.0.1'], days: 1, caDays: 1, force: false });
  const server = await startServer(['--data-dir', join(dir, 'data'), '--workers', '1', '--agencies', '1000', ...serverTlsArgs(pki)]);
  try {
    const options = (name: string) => clientTlsFilesIn(pki, name).then((files) => clientTlsOptions('127.0.0.1', server.port, files));
    const alone: number[] = [];
    const flooded: number[] = [];
    let pongs = 0;
    let nextAgency = 1;
    const ms = Number(values.seconds) * 1000;
    for (let round = 0; round < Number(values.rounds); round++) {
      const quiet = await connectAgency(await options(`agency-${nextAgency}`), nextAgency++);
      alone.push(...(await neighbour(quiet, ms)));
      quiet.destroy();
      const flooder = flood(await connectAgency(await options(`agency-${nextAgency}`), nextAgency++), Number(values.window));
      const watched = await connectAgency(await options(`agency-${nextAgency}`), nextAgency++);
      await sleep(500); // the flood under way
      flooded.push(...(await neighbour(watched, ms)));
      watched.destroy();
      pongs += flooder.stop();
    }
    const median = (list: number[]) =>
      percentile(
        [...list].sort((a, b) => a - b),
        0.5,
      ).toFixed(2);
    const max = (list: number[]) => Math.max(...list).toFixed(1);
    console.log(
      `lottery-server --workers 1 over mutual TLS, ${values.rounds} rounds of ${values.seconds} s, flood window ${values.window} PINGs, node ${process.versions.node}\n` +
        `neighbour PING round trip alone (yardstick): median ${median(alone)} ms, max ${max(alone)} ms (${alone.length} PINGs)\n` +
        `neighbour PING round trip beside the flood:  median ${median(flooded)} ms, max ${max(flooded)} ms (${flooded.length} PINGs); ` +
        `the flood got ${Math.round(pongs / ((Number(values.rounds) * (ms + 500)) / 1000))} PONGs/s`,
    );
  } finally {
    await server.stop();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
