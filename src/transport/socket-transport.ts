// A Transport (see transport.ts) over a socket: the TCP socket a session
// worker was handed, or the TLS stream on it. Runs on a session worker.
import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { Transport, TransportReceiver } from './transport.ts';

export function socketTransport(socket: Socket): Transport {
  return {
    peer: `${socket.remoteAddress}:${socket.remotePort}`,
    start(receiver: TransportReceiver) {
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => receiver.data(chunk));
      socket.on('end', () => receiver.end());
      socket.on('error', (error) => receiver.error(error));
      socket.once('close', () => receiver.close());
    },
    pause: () => void socket.pause(),
    resume: () => void socket.resume(),
    send: (bytes) => void socket.write(bytes),
    cork: () => socket.cork(),
    uncork: () => socket.uncork(),
    get unsentBytes() {
      return socket.writableLength;
    },
    // writableNeedDrain: a write found the buffer at its high-water mark (64 KiB), so 'drain' will say when it empties.
    get full() {
      return socket.writableNeedDrain;
    },
    drained: async (signal) => void (await once(socket, 'drain', { signal })),
    end: () => void socket.end(),
    destroy: () => void socket.destroy(),
    get destroyed() {
      return socket.destroyed;
    },
  };
}
