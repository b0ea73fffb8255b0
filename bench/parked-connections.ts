// What connections parked before their TLS handshake cost the server: the
// real lottery-server over mutual TLS with its default limits, then N
// connections from 16 loopback addresses, each sending the first KiB of a
// TLS record that announces more than it ever sends, and stalling. Each
// such connection waits for the rest of its ClientHello without a handshake
// turn, holding what it sent; the worker holds at most 8 MiB of such bytes
// in total and refuses the rest as busy. The yardstick, interleaved: the
// same N connections sending one byte (0x16). Prints the server's RSS
// before, with the connections parked, and after they close.
//   node bench/parked-connections.ts [--connections N] [--kib K] [--rounds R]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startServer } from '../src/harness/lottery-processes.ts';
import { serverTlsArgs } from '../src/harness/tls-args.ts';
import { makePkiDirectory } from '../src/pki/pki-directory.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '16384' },
    kib: { type: 'string', default: '60' },
    rounds: { type: 'string', default: '1' },
  },
});
const connections = Number(values.connections);
const ADDRESSES = 16;

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** A TLS handshake record header announcing 65,000 bytes, then `bytes - 5` of them. */
function partialRecord(bytes: number): Buffer {
  if (bytes <= 1) return Buffer.from([0x16]);
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0xfd, 0xe8]), Buffer.alloc(bytes - 5, 1)]);
}

async function park(port: number, payload: Buffer): Promise<{ sockets: net.Socket[]; refused: () => number }> {
  const sockets: net.Socket[] = [];
  let closed = 0;
  // In waves, so that the kernel's accept queue is never what refuses.
  for (let start = 0; start < connections; start += 256) {
    const wave = Array.from({ length: Math.min(256, connections - start) }, (_, i) => {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress: `127.0.2.${((start + i) % ADDRESSES) + 1}` });
      socket.on('error', () => undefined);
      socket.on('close', () => closed++);
      socket.resume();
      sockets.push(socket);
      return new Promise<void>((resolve) => {
        socket.once('connect', () => socket.write(payload, () => resolve()));
        socket.once('close', () => resolve());
      });
    });
    await Promise.all(wave);
  }
  return { sockets, refused: () => closed };
}

const dir = await mkdtemp(join(tmpdir(), 'lottery-parked-'));
try {
  const pki = join(dir, 'pki');
  await makePkiDirectory({ dir: pki, agencies: 1, hosts: ['127.0.0.1'], days: 1, caDays: 1, force: false });
  console.log(
    `lottery-server over mutual TLS, default limits but --handshake-timeout 120, ${connections} connections from ${ADDRESSES} addresses, node ${process.versions.node}`,
  );
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [what, payload] of [
      ['one byte (yardstick)', partialRecord(1)],
      [`${values.kib} KiB of a ClientHello`, partialRecord(Number(values.kib) * 1024)],
    ] as const) {
      const server = await startServer([
        '--data-dir',
        join(dir, `data-${round}-${payload.length}`),
        '--handshake-timeout',
        '120',
        ...serverTlsArgs(pki),
      ]);
      try {
        const pid = server.child.pid!;
        await sleep(1000);
        const before = await rssMiB(pid);
        const started = performance.now();
        const { sockets, refused } = await park(server.port, payload);
        await sleep(2000);
        const parked = await rssMiB(pid);
        const refusedCount = refused();
        for (const socket of sockets) socket.destroy();
        await sleep(3000);
        const after = await rssMiB(pid);
        console.log(
          `${what.padEnd(28)} RSS ${before.toFixed(0)} MiB before, ${parked.toFixed(0)} MiB parked (+${(parked - before).toFixed(0)}), ` +
            `${after.toFixed(0)} MiB after they closed; ${connections - refusedCount} parked, ${refusedCount} refused; ` +
            `${((performance.now() - started) / 1000).toFixed(1)} s`,
        );
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
