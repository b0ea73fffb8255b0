// A test client that can send anything, well-formed or not, and reads back
// what the server answers, frame by frame.
import net from 'node:net';
import { decodeMessage, encodeMessage } from '../../src/wire/codec.ts';
import { FrameDecoder } from '../../src/wire/frame-decoder.ts';
import { HEADER_SIZE } from '../../src/wire/frame.ts';
import type { Message } from '../../src/wire/messages.ts';

export type RawConnection = {
  socket: net.Socket;
  send(message: Message): void;
  sendBytes(bytes: Uint8Array | string): void;
  /** The next message; rejects if the connection closes first or nothing comes within `timeoutMs`. */
  receive(timeoutMs?: number): Promise<Message>;
  /** The next message with the size of its whole frame, header included. */
  receiveFrame(timeoutMs?: number): Promise<{ message: Message; size: number }>;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
  destroy(): void;
};

export async function connectRaw(port: number): Promise<RawConnection> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  const decoder = new FrameDecoder();
  const inbox: Array<{ message: Message; size: number }> = [];
  const waiters: Array<() => void> = [];
  const wakeAll = () => waiters.splice(0).forEach((wake) => wake());
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) inbox.push({ message: decodeMessage(frame), size: HEADER_SIZE + frame.payload.length });
    wakeAll();
  });
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      ended = true;
      wakeAll();
      resolve();
    }),
  );
  const receiveFrame = async (timeoutMs = 20_000) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    timeout.addEventListener('abort', wakeAll);
    try {
      while (inbox.length === 0) {
        if (ended) throw new Error('the connection closed with no message');
        if (timeout.aborted) throw new Error(`no message within ${timeoutMs} ms`);
        const arrived = Promise.withResolvers<void>();
        waiters.push(arrived.resolve);
        await arrived.promise;
      }
      return inbox.shift()!;
    } finally {
      timeout.removeEventListener('abort', wakeAll);
    }
  };
  return {
    socket,
    send: (message) => socket.write(encodeMessage(message)),
    sendBytes: (bytes) => socket.write(bytes),
    receive: async (timeoutMs) => (await receiveFrame(timeoutMs)).message,
    receiveFrame,
    closed,
    destroy: () => socket.destroy(),
  };
}
