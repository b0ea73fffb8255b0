// What an idle mutual-TLS connection costs the server in memory: the real
// lottery-server over mutual TLS, then N connections that finish their
// handshake (with the monitor's certificate) and say nothing. Prints the
// server's RSS before and after, and per connection.
//   node bench/tls-idle-memory.ts [--connections N] [--workers W]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startServer } from '../src/harness/lottery-processes.ts';
import { clientTlsFilesIn, serverTlsArgs } from '../src/harness/tls-args.ts';
import { clientTlsOptions } from '../src/transport/client-tls.ts';
import { makePkiDirectory } from '../src/pki/pki-directory.ts';

const { values } = parseArgs({ options: { connections: { type: 'string', default: '2000' }, workers: { type: 'string', default: '1' } } });
const connections = Number(values.connections);

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

const dir = await mkdtemp(join(tmpdir(), 'lottery-tls-memory-'));
try {
  const pki = join(dir, 'pki');
  await makePkiDirectory({ dir: pki, agencies: 1, hosts: ['127.0.0.1'], days: 1, caDays: 1, force: false });
  const server = await startServer([
    '--data-dir',
    join(dir, 'data'),
    '--workers',
    values.workers,
    // Idle connections that never send HELLO must not be cut, nor refused for their number.
    '--handshake-timeout',
    '3600',
    '--max-unauthenticated-per-address',
    String(connections + 1),
    '--max-connections',
    String(connections + 1),
    ...serverTlsArgs(pki),
  ]);
  try {
    const pid = server.child.pid!;
    await sleep(1000);
    const before = await rssKiB(pid);
    const options = clientTlsOptions('127.0.0.1', server.port, await clientTlsFilesIn(pki, 'monitor'));
    const sockets: tls.TLSSocket[] = [];
    for (let i = 0; i < connections; i++) {
      await new Promise<void>((resolve, reject) => {
        const socket = tls.connect(options, resolve);
        socket.once('error', reject);
        sockets.push(socket);
      });
    }
    await sleep(2000);
    const after = await rssKiB(pid);
    console.log(
      `lottery-server over mutual TLS, --workers ${values.workers}, ${connections} idle connections, node ${process.versions.node}\n` +
        `server RSS ${(before / 1024).toFixed(0)} MiB before, ${(after / 1024).toFixed(0)} MiB after: ` +
        `${((after - before) / connections).toFixed(1)} KiB a connection`,
    );
    for (const socket of sockets) socket.destroy();
  } finally {
    await server.stop();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
