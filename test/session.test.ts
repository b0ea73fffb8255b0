import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LotteryApi } from '../src/actors/lottery-api.ts';
import { Session, type SessionOptions } from '../src/actors/session.ts';
import { socketTransport } from '../src/transport/socket-transport.ts';
import type { SessionStore } from '../src/actors/store-client.ts';
import type { WinnersOutcome } from '../src/actors/lottery.ts';
import { createLogger } from '../src/log/logger.ts';
import { encodeMessage } from '../src/wire/codec.ts';
import { connectRaw } from './helpers/raw-connection.ts';
import { EMPTY_UPLOAD_DIGEST } from '../src/bets/upload-digest.ts';

// A Session in this process, on a real loopback socket, with a Store and a
// Lottery whose answers the test holds back: what the server spends on the
// peer's behalf must never count as the peer's silence, and what the peer
// does not read must stop the Session from reading.

const log = createLogger({ level: 'silent', format: 'text' });
// Serial, with idle timeouts of a second: the only stall between the server's
// accept and the peer's first bytes is this process's own, and it is short.

/** A promise the test settles when it wants. */
function held<T>() {
  return Promise.withResolvers<T>();
}

async function serveSessions(t: ExecutionContext, options: Partial<SessionOptions>) {
  const sessions: Session[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    sockets.push(socket);
    sessions.push(
      new Session(socketTransport(socket), {
        agencies: 5,
        store: {
          welcome: async () => ({ offset: 0, finished: false, drawn: false }),
          append: async () => ({ status: 'invalid', next: 0 }),
        },
        lottery: {
          finish: async (_agency, total, digest) => ({ status: 'finished', total, digest }),
          winners: () => new Promise(() => undefined),
          withdraw: () => undefined,
        },
        log,
        handshakeTimeoutMs: 60_000,
        idleTimeoutMs: 60_000,
        frameTimeoutMs: 60_000,
        ...options,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.close();
    sessions.forEach((session) => void session.stop('test over'));
  });
  return { port: (server.address() as net.AddressInfo).port, sessions, sockets };
}

test.serial('a HELLO that waits on the Store for many idle timeouts is answered, not timed out', async (t) => {
  const welcome = held<{ offset: number; finished: boolean; drawn: boolean }>();
  const store: SessionStore = { welcome: () => welcome.promise, append: async () => ({ status: 'invalid', next: 0 }) };
  const { port } = await serveSessions(t, { store, idleTimeoutMs: 1000 });
  const connection = await connectRaw(port);
  t.teardown(() => connection.destroy());
  connection.sendBytes(Buffer.concat([encodeMessage({ type: 'HELLO', agency: 1 }), encodeMessage({ type: 'PING' })]));
  await sleep(5000);
  welcome.resolve({ offset: 0, finished: false, drawn: false });
  t.like(await connection.receive(), { type: 'WELCOME' });
  t.deepEqual(await connection.receive(), { type: 'PONG' });
});

test.serial('a FINISH that waits on the Lottery for many idle timeouts is answered, not timed out', async (t) => {
  const finished = held<{ status: 'finished'; total: number; digest: string }>();
  const lottery: LotteryApi = { finish: () => finished.promise, winners: () => new Promise(() => undefined), withdraw: () => undefined };
  const { port } = await serveSessions(t, { lottery, idleTimeoutMs: 1000 });
  const connection = await connectRaw(port);
  t.teardown(() => connection.destroy());
  connection.sendBytes(
    Buffer.concat([encodeMessage({ type: 'HELLO', agency: 1 }), encodeMessage({ type: 'FINISH', total: 0, digest: EMPTY_UPLOAD_DIGEST })]),
  );
  t.like(await connection.receive(), { type: 'WELCOME' });
  await sleep(5000);
  finished.resolve({ status: 'finished', total: 0, digest: EMPTY_UPLOAD_DIGEST });
  t.deepEqual(await connection.receive(), { type: 'ACK', offset: 0 });
});

test.serial('a held WINNERS is withdrawn from the Lottery when its connection closes', async (t) => {
  const withdrawn: unknown[] = [];
  const asked: unknown[] = [];
  const lottery: LotteryApi = {
    finish: async (_agency, total, digest) => ({ status: 'finished', total, digest }),
    winners: (_agency, ticket) => {
      asked.push(ticket);
      return new Promise<WinnersOutcome>(() => undefined);
    },
    withdraw: (ticket) => void withdrawn.push(ticket),
  };
  const { port } = await serveSessions(t, { lottery });
  const connection = await connectRaw(port);
  connection.sendBytes(
    Buffer.concat([
      encodeMessage({ type: 'HELLO', agency: 1 }),
      encodeMessage({ type: 'FINISH', total: 0, digest: EMPTY_UPLOAD_DIGEST }),
      encodeMessage({ type: 'WINNERS' }),
      encodeMessage({ type: 'PING' }),
    ]),
  );
  t.like(await connection.receive(), { type: 'WELCOME' });
  t.like(await connection.receive(), { type: 'ACK' });
  t.deepEqual(await connection.receive(), { type: 'PONG' });
  t.is(asked.length, 1);
  t.deepEqual(withdrawn, []);
  connection.destroy();
  while (withdrawn.length === 0) await sleep(20);
  t.deepEqual(withdrawn, asked);
});

test.serial('a peer that never reads is no longer read once its replies back up, and is cut off after the idle timeout', async (t) => {
  const { port, sockets } = await serveSessions(t, { idleTimeoutMs: 1000 });
  const peer = net.connect({ port, host: '127.0.0.1' });
  await new Promise((resolve) => peer.once('connect', resolve));
  peer.on('error', () => undefined);
  // Never reads: pings, as fast as the socket takes them, until the server stops taking them.
  peer.pause();
  const closed = new Promise((resolve) => peer.once('close', resolve));
  const pings = Buffer.concat(Array.from({ length: 100_000 }, () => encodeMessage({ type: 'PING' })));
  let offered = 0;
  let gone = false;
  void closed.then(() => (gone = true));
  while (!gone && offered < 200 * 1024 * 1024) {
    offered += pings.length;
    if (!peer.write(pings)) {
      const drained = await Promise.race([new Promise((resolve) => peer.once('drain', () => resolve(true))), closed.then(() => false)]);
      if (!drained) break;
    }
  }
  await closed;
  // Had the server read on, it would have read all 200 MiB and held a PONG for each.
  const read = sockets[0].bytesRead;
  t.log(`offered ${(offered / 2 ** 20).toFixed(0)} MiB; the session read ${(read / 2 ** 20).toFixed(2)} MiB of it, then closed`);
  t.true(offered < 200 * 1024 * 1024, 'the server closed the connection');
  // What it read answers with PONGs the peer never takes: bounded by the write cap plus what the kernel holds.
  t.true(read < 16 * 1024 * 1024, `${read} bytes read`);
});
