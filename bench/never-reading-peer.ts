// node_modules/.bin/node bench/never-reading-peer.ts [--peers P] [--seconds S] [--rounds R] [--tls [--monitor]] [-- server flags…]
//
// With --tls the server runs mutual TLS and each peer connects with its
// agency's certificate; with --monitor too, with the monitor's instead, and
// sends only PINGs (allowed before HELLO, a few).
//
// The real lottery-server (default settings: --idle-timeout 60) and P peers
// (default 1, at most --agencies) that say HELLO and then send PINGs as fast
// as the server takes them. The yardstick: P honest peers that do the same
// and read their PONGs, on a server of their own; then P that never read a
// PONG, on another; R rounds (default 1), the two alternating. Prints the
// server's RSS and CPU every 5 s for S seconds (default 30) beside its RSS
// before any peer connected, what the peers managed to send, and at the end
// each kind's growth, and the never-reading peers' beyond the honest ones',
// per peer. Without write backpressure the server grew by gigabytes in 30 s;
// with it, it stops reading each peer once its replies back up and closes
// it after --idle-timeout.

import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { clientTlsFilesIn, serverTlsArgs } from '../src/harness/tls-args.ts';
import { clientTlsOptions } from '../src/transport/client-tls.ts';
import { makePkiDirectory } from '../src/pki/pki-directory.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hello, ping } from '../src/harness/hostile-frames.ts';
import { startServer } from '../src/harness/lottery-processes.ts';

const { values, positionals } = parseArgs({
  options: {
    peers: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '1' },
    tls: { type: 'boolean', default: false },
    monitor: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const peers = Number(values.peers);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime, fields 14 and 15 of stat, in clock ticks (100 a second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

type Run = { before: number; after: number; peak: number; cpu: number; offered: number; closed: number };

/** One server and P peers for S seconds; `reads`: whether the peers read their PONGs. */
async function run(reads: boolean): Promise<Run> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lottery-never-reads-'));
  const pki = join(dataDir, 'pki');
  if (values.tls) await makePkiDirectory({ dir: pki, agencies: peers, hosts: ['127.0.0.1'], days: 1, caDays: 1, force: false });
  const server = await startServer(['--data-dir', join(dataDir, 'data'), ...(values.tls ? serverTlsArgs(pki) : []), ...positionals]);
  const tlsOptions = async (i: number) =>
    values.tls
      ? clientTlsOptions('127.0.0.1', server.port, await clientTlsFilesIn(pki, values.monitor ? 'monitor' : `agency-${i + 1}`))
      : undefined;
  const pid = server.child.pid!;
  const sockets: net.Socket[] = [];
  try {
    await sleep(1000);
    const baseline = await rssMiB(pid);
    console.log(
      `${reads ? 'honest peers (the yardstick)' : 'never-reading peers'}: server RSS before any peer: ${baseline.toFixed(0)} MiB (${values.tls ? `mutual TLS, ${values.monitor ? 'the monitor' : 'agencies'}` : 'plaintext'}; flags: ${positionals.join(' ') || 'defaults'})`,
    );
    const burst = Buffer.concat(new Array(100_000).fill(ping()));
    const sent: number[] = new Array(peers).fill(0);
    const closedAt: Array<number | undefined> = new Array(peers).fill(undefined);
    const started = performance.now();
    for (let i = 0; i < peers; i++) {
      const options = await tlsOptions(i);
      const socket = options === undefined ? net.connect({ port: server.port, host: '127.0.0.1' }) : tls.connect(options);
      sockets.push(socket);
      socket.on('error', () => undefined);
      // An honest peer takes its PONGs as they come; the others never read one.
      if (reads) socket.on('data', () => undefined);
      else socket.pause();
      socket.once('close', () => (closedAt[i] = (performance.now() - started) / 1000));
      socket.once(options === undefined ? 'connect' : 'secureConnect', () => {
        // HELLO first, so that the handshake timeout is not what ends it; the monitor may only PING.
        if (!values.monitor) socket.write(hello(i + 1));
        // Writes whenever the socket takes more: never more than one burst waits in this process.
        const more = () => {
          while (!socket.destroyed && socket.write(burst)) sent[i] += burst.length;
          if (!socket.destroyed) sent[i] += burst.length;
        };
        socket.on('drain', more);
        more();
      });
    }
    const cpuBefore = await cpuSeconds(pid);
    let peak = baseline;
    let rss = baseline;
    for (let t = 5; t <= seconds; t += 5) {
      await sleep(Math.max(0, started + t * 1000 - performance.now()));
      const open = closedAt.filter((at) => at === undefined).length;
      const offered = sent.reduce((a, b) => a + b, 0) / 2 ** 20;
      rss = await rssMiB(pid);
      peak = Math.max(peak, rss);
      console.log(
        `t=${String(t).padStart(3)} s  server RSS ${rss.toFixed(0).padStart(5)} MiB  ` +
          `CPU ${((await cpuSeconds(pid)) - cpuBefore).toFixed(2).padStart(6)} s  peers open ${open}/${peers}  this process ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB  offered ${offered.toFixed(1)} MiB`,
      );
    }
    const closed = closedAt.filter((at) => at !== undefined) as number[];
    console.log(
      closed.length > 0 ? `peers closed by the server after ${closed.map((at) => at.toFixed(1)).join(', ')} s` : 'no peer was closed',
    );
    return {
      before: baseline,
      after: rss,
      peak,
      cpu: (await cpuSeconds(pid)) - cpuBefore,
      offered: sent.reduce((a, b) => a + b, 0) / 2 ** 20,
      closed: closed.length,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const growth = { honest: [] as number[], neverReading: [] as number[] };
for (let round = 1; round <= rounds; round++) {
  for (const reads of [true, false]) {
    const { before, peak } = await run(reads);
    (reads ? growth.honest : growth.neverReading).push(peak - before);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const honest = median(growth.honest);
const neverReading = median(growth.neverReading);
console.log(
  `server RSS growth at its peak, median of ${rounds}: ${peers} honest peers ${honest.toFixed(0)} MiB, ${peers} never-reading peers ${neverReading.toFixed(0)} MiB; ` +
    `${((neverReading - honest) / peers).toFixed(2)} MiB a never-reading peer beyond an honest one`,
);
