// node_modules/.bin/node bench/never-reading-peer.ts [--peers P] [--seconds S] [--tls] [-- server flags…]
//
// With --tls the server runs mutual TLS and each peer connects with its
// agency's certificate; with --monitor too, with the monitor's instead, and
// sends only PINGs (allowed before HELLO, a few).
//
// The real lottery-server (default settings: --idle-timeout 60) and P peers
// (default 1, at most --agencies) that say HELLO and then send PINGs as fast as the server takes them and never read
// a PONG. Prints the server's RSS and CPU every 5 s for S seconds (default
// 60), beside its RSS before any peer connected (the yardstick), and what the
// peers managed to send. Without write backpressure the server grew by
// gigabytes in 30 s; with it, it stops reading each peer once its replies
// back up and closes it after --idle-timeout.

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
    seconds: { type: 'string', default: '60' },
    tls: { type: 'boolean', default: false },
    monitor: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const peers = Number(values.peers);
const seconds = Number(values.seconds);

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

const dataDir = await mkdtemp(join(tmpdir(), 'lottery-never-reads-'));
const pki = join(dataDir, 'pki');
if (values.tls) await makePkiDirectory({ dir: pki, agencies: peers, hosts: ['127.0.0.1'], days: 1, caDays: 1, force: false });
const server = await startServer(['--data-dir', join(dataDir, 'data'), ...(values.tls ? serverTlsArgs(pki) : []), ...positionals]);
const tlsOptions = async (i: number) =>
  values.tls
    ? clientTlsOptions('127.0.0.1', server.port, await clientTlsFilesIn(pki, values.monitor ? 'monitor' : `agency-${i + 1}`))
    : undefined;
const pid = server.child.pid!;
try {
  await sleep(1000);
  const baseline = await rssMiB(pid);
  console.log(
    `server RSS before any peer: ${baseline.toFixed(0)} MiB (${values.tls ? `mutual TLS, ${values.monitor ? 'the monitor' : 'agencies'}` : 'plaintext'}; flags: ${positionals.join(' ') || 'defaults'})`,
  );
  const burst = Buffer.concat(new Array(100_000).fill(ping()));
  const sent: number[] = new Array(peers).fill(0);
  const closedAt: Array<number | undefined> = new Array(peers).fill(undefined);
  const started = performance.now();
  for (let i = 0; i < peers; i++) {
    const options = await tlsOptions(i);
    const socket = options === undefined ? net.connect({ port: server.port, host: '127.0.0.1' }) : tls.connect(options);
    socket.on('error', () => undefined);
    socket.pause();
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
  for (let t = 5; t <= seconds; t += 5) {
    await sleep(Math.max(0, started + t * 1000 - performance.now()));
    const open = closedAt.filter((at) => at === undefined).length;
    const offered = sent.reduce((a, b) => a + b, 0) / 2 ** 20;
    console.log(
      `t=${String(t).padStart(3)} s  server RSS ${(await rssMiB(pid)).toFixed(0).padStart(5)} MiB  ` +
        `CPU ${((await cpuSeconds(pid)) - cpuBefore).toFixed(2).padStart(6)} s  peers open ${open}/${peers}  this process ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB  offered ${offered.toFixed(1)} MiB`,
    );
  }
  const closed = closedAt.filter((at) => at !== undefined) as number[];
  console.log(
    closed.length > 0 ? `peers closed by the server after ${closed.map((at) => at.toFixed(1)).join(', ')} s` : 'no peer was closed',
  );
} finally {
  await server.stop();
  await rm(dataDir, { recursive: true, force: true });
}
