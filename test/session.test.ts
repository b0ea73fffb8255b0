import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
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
import { within } from './helpers/lottery-fixtures.ts';
import { EMPTY_UPLOAD_DIGEST } from '../src/bets/upload-digest.ts';

// A Session in this process, on a real loopback socket, with a Store and a
// Lottery whose answers the test holds back: what the server spends on the
// peer's behalf must never count as the peer's silence, and what the peer
// does not read must stop the Session from reading.

const log = createLogger({ level: 'silent', format: 'text' });

// Serial, with short idle timeouts. Each Session starts only once its peer's
// first bytes are in the socket, so it reads them at once: a stall of this
// busy process before that first read cannot pass for the peer's silence.
const IDLE_TIMEOUT_MS = 100;
/** What "many idle timeouts" is: a wait in which none of them may end the connection. */
const MANY_IDLE_TIMEOUTS_MS = 10 * IDLE_TIMEOUT_MS;

/** A promise the test settles when it wants. */
function held<T>() {
  return Promise.withResolvers<T>();
}

/** A loopback server whose connections get a Session each, once the test starts one for them. */
async function serveSessions(t: ExecutionContext, options: Partial<SessionOptions>) {
  const sessions: Session[] = [];
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.close();
    sessions.forEach((session) => void session.stop('test over'));
  });
  const port = (server.address() as net.AddressInfo).port;
  const startSession = (socket: net.Socket) =>
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
  /** A peer that has sent `first`; its Session starts once those bytes are in its socket. */
  const connect = async (first: Uint8Array) => {
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const connection = await connectRaw(port);
    t.teardown(() => connection.destroy());
    await within(
      new Promise<void>((resolve, reject) => connection.socket.write(first, (error) => (error ? reject(error) : resolve()))),
      'the first bytes reaching the socket',
    );
    const [socket] = await within(accepted, 'the server accepting the connection');
    startSession(socket);
    return { connection, socket };
  };
  return { connect };
}

/** Resolves the first time `calls` is called; `calls` passes on to `then`. */
function called<A extends unknown[], R>(then: (...args: A) => R) {
  const first = Promise.withResolvers<void>();
  return {
    happened: first.promise,
    calls: (...args: A): R => {
      first.resolve();
      return then(...args);
    },
  };
}

test.serial('a HELLO that waits on the Store for many idle timeouts is answered, not timed out', async (t) => {
  const welcome = held<{ offset: number; finished: boolean; drawn: boolean }>();
  const asked = called(() => welcome.promise);
  const store: SessionStore = { welcome: asked.calls, append: async () => ({ status: 'invalid', next: 0 }) };
  const { connect } = await serveSessions(t, { store, idleTimeoutMs: IDLE_TIMEOUT_MS });
  const { connection } = await connect(Buffer.concat([encodeMessage({ type: 'HELLO', agency: 1 }), encodeMessage({ type: 'PING' })]));
  await within(asked.happened, 'the Session asking the Store');
  await sleep(MANY_IDLE_TIMEOUTS_MS);
  welcome.resolve({ offset: 0, finished: false, drawn: false });
  t.like(await connection.receive(), { type: 'WELCOME' });
  t.deepEqual(await connection.receive(), { type: 'PONG' });
});

test.serial('a FINISH that waits on the Lottery for many idle timeouts is answered, not timed out', async (t) => {
  const finished = held<{ status: 'finished'; total: number; digest: string }>();
  const asked = called(() => finished.promise);
  const lottery: LotteryApi = { finish: asked.calls, winners: () => new Promise(() => undefined), withdraw: () => undefined };
  const { connect } = await serveSessions(t, { lottery, idleTimeoutMs: IDLE_TIMEOUT_MS });
  const { connection } = await connect(
    Buffer.concat([encodeMessage({ type: 'HELLO', agency: 1 }), encodeMessage({ type: 'FINISH', total: 0, digest: EMPTY_UPLOAD_DIGEST })]),
  );
  t.like(await connection.receive(), { type: 'WELCOME' });
  await within(asked.happened, 'the Session asking the Lottery');
  await sleep(MANY_IDLE_TIMEOUTS_MS);
  finished.resolve({ status: 'finished', total: 0, digest: EMPTY_UPLOAD_DIGEST });
  t.deepEqual(await connection.receive(), { type: 'ACK', offset: 0 });
});

test.serial('a held WINNERS is withdrawn from the Lottery when its connection closes', async (t) => {
  const withdrawn: unknown[] = [];
  const asked: unknown[] = [];
  const withdrawal = called((ticket: string) => void withdrawn.push(ticket));
  const lottery: LotteryApi = {
    finish: async (_agency, total, digest) => ({ status: 'finished', total, digest }),
    winners: (_agency, ticket) => {
      asked.push(ticket);
      return new Promise<WinnersOutcome>(() => undefined);
    },
    withdraw: withdrawal.calls,
  };
  const { connect } = await serveSessions(t, { lottery });
  const { connection } = await connect(
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
  await within(withdrawal.happened, 'the Session withdrawing the WINNERS');
  t.deepEqual(withdrawn, asked);
});

test.serial('a peer that never reads is no longer read once its replies back up, and is cut off after the idle timeout', async (t) => {
  const { connect } = await serveSessions(t, { idleTimeoutMs: 3 * IDLE_TIMEOUT_MS });
  const pings = Buffer.concat(Array.from({ length: 100_000 }, () => encodeMessage({ type: 'PING' })));
  const { connection, socket } = await connect(encodeMessage({ type: 'PING' }));
  const peer = connection.socket;
  // Never reads: pings, as fast as the socket takes them, until the server stops taking them.
  peer.pause();
  let offered = 0;
  let gone = false;
  void connection.closed.then(() => (gone = true));
  while (!gone && offered < 200 * 1024 * 1024) {
    offered += pings.length;
    if (!peer.write(pings)) {
      const drained = await Promise.race([
        new Promise((resolve) => peer.once('drain', () => resolve(true))),
        connection.closed.then(() => false),
      ]);
      if (!drained) break;
    }
  }
  await within(connection.closed, 'the server closing the connection');
  // Had the server read on, it would have read all 200 MiB and held a PONG for each.
  const read = socket.bytesRead;
  t.log(`offered ${(offered / 2 ** 20).toFixed(0)} MiB; the session read ${(read / 2 ** 20).toFixed(2)} MiB of it, then closed`);
  t.true(offered < 200 * 1024 * 1024, 'the server closed the connection');
  // What it read answers with PONGs the peer never takes: bounded by the write cap plus what the kernel holds.
  t.true(read < 16 * 1024 * 1024, `${read} bytes read`);
});
