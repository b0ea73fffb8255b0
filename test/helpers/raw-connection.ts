// A test client that can send anything, well-formed or not, and reads back
// what the server answers, frame by frame.
import net from 'node:net';
import { decodeMessage, encodeMessage } from '../../src/wire/codec.ts';
import { FrameDecoder } from '../../src/wire/frame-decoder.ts';
import type { Message } from '../../src/wire/messages.ts';

export type RawConnection = {
  socket: net.Socket;
  send(message: Message): void;
  sendBytes(bytes: Uint8Array): void;
  /** The next message; rejects if the connection closes first or nothing comes within `timeoutMs`. */
  receive(timeoutMs?: number): Promise<Message>;
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
  const inbox: Message[] = [];
  const waiters: Array<() => void> = [];
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) inbox.push(decodeMessage(frame));
    waiters.splice(0).forEach((wake) => wake());
  });
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      ended = true;
      waiters.splice(0).forEach((wake) => wake());
      resolve();
    }),
  );
  const receive = async (timeoutMs = 20_000): Promise<Message> => {
    const deadline = Date.now() + timeoutMs;
    while (inbox.length === 0) {
      if (ended) throw new Error('the connection closed with no message');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return inbox.shift()!;
  };
  return {
    socket,
    send: (message) => socket.write(encodeMessage(message)),
    sendBytes: (bytes) => socket.write(bytes),
    receive,
    closed,
    destroy: () => socket.destroy(),
  };
}
