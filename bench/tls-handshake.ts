// What a connection costs over mutual TLS, apart from the bytes it carries:
// the real lottery-server, once in plaintext and once over mutual TLS, each
// given N connections one after another that connect as lottery-ping does
// (the agency's own ServerConnection, with the monitor's certificate), send
// a PING, wait for the PONG and close. The plaintext server is the
// yardstick: what a connection costs without TLS, measured in the same run,
// the rounds interleaved. Prints, per connection, the server's CPU (all its
// threads, from /proc) and this process's (the client's), and what TLS adds.
//   node bench/tls-handshake.ts [--connections N] [--rounds R]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ServerConnection } from '../src/agency/server-connection.ts';
import { startServer, type RunningServer } from '../src/harness/lottery-processes.ts';
import { clientTlsFilesIn, serverTlsArgs } from '../src/harness/tls-args.ts';
import { makePkiDirectory } from '../src/pki/pki-directory.ts';
import type { ClientTlsFiles } from '../src/transport/client-tls.ts';
import { threadsCpuNs } from './process-cpu.ts';
import { median } from './stats.ts';

const { values } = parseArgs({ options: { connections: { type: 'string', default: '300' }, rounds: { type: 'string', default: '5' } } });
const connections = Number(values.connections);
const rounds = Number(values.rounds);

type Sample = { serverUs: number; serverByThreadUs: Map<string, number>; clientUs: number };

/** N connections in turn, each PING then PONG; CPU per connection on both sides. */
async function connectMany(server: RunningServer, tls: ClientTlsFiles | undefined): Promise<Sample> {
  const pid = server.child.pid!;
  const before = await threadsCpuNs(pid);
  const clientBefore = process.cpuUsage();
  for (let i = 0; i < connections; i++) {
    const connection = await ServerConnection.connect('127.0.0.1', server.port, 10_000, tls);
    await connection.send({ type: 'PING' });
    const answer = await connection.receive(10_000);
    if (answer.type !== 'PONG') throw new Error(`expected PONG, got ${answer.type}`);
    connection.close();
  }
  const client = process.cpuUsage(clientBefore);
  // The server's last close is handled after the client's: give it that instant.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = await threadsCpuNs(pid);
  const serverByThreadUs = new Map<string, number>();
  let serverNs = 0;
  for (const [name, ns] of after) {
    const used = ns - (before.get(name) ?? 0);
    serverNs += used;
    serverByThreadUs.set(name, used / 1000 / connections);
  }
  return { serverUs: serverNs / 1000 / connections, serverByThreadUs, clientUs: (client.user + client.system) / connections };
}

const dir = await mkdtemp(join(tmpdir(), 'lottery-tls-handshake-'));
const servers: RunningServer[] = [];
try {
  const pki = join(dir, 'pki');
  await makePkiDirectory({ dir: pki, agencies: 1, hosts: ['127.0.0.1'], days: 1, caDays: 1, force: false });
  const common = (name: string) => [
    ...['--data-dir', join(dir, name), '--workers', '1', '--log-level', 'warn'],
    ...['--max-unauthenticated-per-address', String(connections + 1)],
  ];
  const plain = await startServer(common('plain'), { ready: 'socket' });
  servers.push(plain);
  const secure = await startServer([...common('tls'), ...serverTlsArgs(pki)], { ready: 'socket' });
  servers.push(secure);
  const monitor = await clientTlsFilesIn(pki, 'monitor');
  const samples = { off: [] as Sample[], on: [] as Sample[] };
  // Both warm up once, unmeasured: the first connections compile the code they run.
  await connectMany(plain, undefined);
  await connectMany(secure, monitor);
  for (let round = 0; round < rounds; round++) {
    for (const tls of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      const sample = await connectMany(tls === 'on' ? secure : plain, tls === 'on' ? monitor : undefined);
      samples[tls].push(sample);
      console.error(
        `round ${round + 1} tls ${tls.padEnd(3)} server ${sample.serverUs.toFixed(0).padStart(5)} µs, client ${sample.clientUs.toFixed(0).padStart(5)} µs a connection`,
      );
    }
  }
  const med = (tls: 'off' | 'on', pick: (sample: Sample) => number) => median(samples[tls].map(pick));
  const server = { off: med('off', (s) => s.serverUs), on: med('on', (s) => s.serverUs) };
  const client = { off: med('off', (s) => s.clientUs), on: med('on', (s) => s.clientUs) };
  console.log(
    `${connections} connections a round, ${rounds} rounds, medians, CPU µs a connection (connect, PING, PONG, close); node ${process.versions.node}, OpenSSL ${process.versions.openssl}`,
  );
  console.log('| | plaintext | mutual TLS | TLS adds |');
  console.log('|---|---:|---:|---:|');
  console.log(`| server, all threads | ${server.off.toFixed(0)} | ${server.on.toFixed(0)} | ${(server.on - server.off).toFixed(0)} |`);
  const names = [...new Set(samples.on.flatMap((sample) => [...sample.serverByThreadUs.keys()]))];
  for (const name of names) {
    const off = med('off', (s) => s.serverByThreadUs.get(name) ?? 0);
    const on = med('on', (s) => s.serverByThreadUs.get(name) ?? 0);
    if (on < 1 && off < 1) continue;
    console.log(`| server, ${name} | ${off.toFixed(0)} | ${on.toFixed(0)} | ${(on - off).toFixed(0)} |`);
  }
  console.log(`| client (this process) | ${client.off.toFixed(0)} | ${client.on.toFixed(0)} | ${(client.on - client.off).toFixed(0)} |`);
} finally {
  for (const server of servers) await server.stop();
  await rm(dir, { recursive: true, force: true });
}
