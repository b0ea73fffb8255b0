import test, { type ExecutionContext } from 'ava';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import { Acceptor, REFUSALS_AT_ONCE } from '../src/actors/acceptor.ts';
import { createLogger } from '../src/log/logger.ts';
import { pollUntil } from './helpers/lottery-fixtures.ts';

// The Acceptor alone, on 127.0.0.1: what a flood of connections past the
// limit can hold open on the server, and the connections it holds while the
// server starts.

test('a flood past the limit holds at most REFUSALS_AT_ONCE refused sockets open: the rest are reset at once', async (t) => {
  const served: Socket[] = [];
  const acceptor = new Acceptor({
    host: '127.0.0.1',
    port: 0,
    maxConnections: 1,
    maxUnauthenticatedPerAddress: 1024,
    log: createLogger({ level: 'silent', format: 'text' }),
    dispatch: (socket) => served.push(socket),
  });
  const { port } = await acceptor.listen();
  acceptor.serve();
  const clients: Array<{ socket: Socket; closed: boolean }> = [];
  t.teardown(async () => {
    for (const { socket } of clients) socket.destroy();
    for (const socket of served) socket.destroy();
    await acceptor.close();
  });
  const flood = REFUSALS_AT_ONCE + 100;
  let most = 0;
  for (let i = 0; i < flood + 1; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const client = { socket, closed: false };
    socket.once('close', () => (client.closed = true));
    socket.on('data', () => undefined);
    clients.push(client);
    await once(socket, 'connect');
    most = Math.max(most, acceptor.refusing);
  }
  // Every connection past the first is refused; no more than the bound are held while told, the rest reset.
  t.is(served.length, 1);
  t.true(most <= REFUSALS_AT_ONCE, `${most} refused sockets held at once`);
  const deadline = Date.now() + 10_000;
  // The server's side of a socket closes a moment after the client's: wait for both.
  const settled = () => clients.filter((client) => client.closed).length === flood && acceptor.refusing === 0;
  while (!settled() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.is(clients.filter((client) => client.closed).length, flood, 'every refused connection is closed, told or reset');
  t.is(acceptor.refusing, 0);
});

/** An Acceptor on 127.0.0.1 that records what it hands over. */
async function acceptorFor(t: ExecutionContext, maxConnections = 16) {
  const served: Array<{ socket: Socket; connection: number }> = [];
  const acceptor = new Acceptor({
    host: '127.0.0.1',
    port: 0,
    maxConnections,
    maxUnauthenticatedPerAddress: 1024,
    log: createLogger({ level: 'silent', format: 'text' }),
    dispatch: (socket, connection) => served.push({ socket, connection }),
  });
  const { port } = await acceptor.listen();
  const clients: Socket[] = [];
  t.teardown(async () => {
    for (const socket of clients) socket.destroy();
    for (const { socket } of served) socket.destroy();
    await acceptor.close();
  });
  /** A client that has connected and sent `hello`; `answered` says whether any byte came back. */
  const connect = async () => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const client = { socket, answered: false, closed: false };
    socket.on('data', () => (client.answered = true));
    socket.once('close', () => (client.closed = true));
    clients.push(socket);
    await once(socket, 'connect');
    socket.write('hello');
    return client;
  };
  return { acceptor, served, connect };
}

test('connections accepted before serve() are held unread and unanswered, then handed over in the order they came', async (t) => {
  const { acceptor, served, connect } = await acceptorFor(t);
  const clients = [await connect(), await connect(), await connect()];
  await pollUntil(() => acceptor.held === 3, 'three connections held', { everyMs: 5, ms: 10_000 });
  t.is(served.length, 0, 'nothing handed over before serve()');
  t.false(
    clients.some((client) => client.answered),
    'no byte written to a held connection',
  );

  acceptor.serve();
  t.is(acceptor.held, 0);
  t.deepEqual(
    served.map(({ connection }) => connection),
    [1, 2, 3],
  );
  for (const { socket } of served) t.is(socket.bytesRead, 0, 'not a byte read while held');
  // Nothing the client sent while it was held is lost: it is all there for the session worker.
  const first = served[0].socket;
  first.resume();
  const [bytes] = (await once(first, 'data')) as [Buffer];
  t.is(bytes.toString(), 'hello');

  // Once serving, a new connection is handed over as it comes.
  await connect();
  await pollUntil(() => served.length === 4, 'the fourth connection handed over', { everyMs: 5, ms: 10_000 });
  t.is(served[3].connection, 4);
});

test('held connections count against the limits, and close() resets those still held', async (t) => {
  const { acceptor, served, connect } = await acceptorFor(t, 2);
  const held = [await connect(), await connect()];
  await pollUntil(() => acceptor.held === 2, 'two connections held', { everyMs: 5, ms: 10_000 });
  const refused = await connect();
  await pollUntil(() => refused.closed, 'the third connection refused and closed', { everyMs: 5, ms: 10_000 });
  t.true(refused.answered, 'the refused one is told why');
  t.is(acceptor.held, 2);

  await acceptor.close();
  t.is(acceptor.held, 0);
  await pollUntil(() => held.every((client) => client.closed), 'the held connections closed', { everyMs: 5, ms: 10_000 });
  t.false(
    held.some((client) => client.answered),
    'closed unanswered',
  );
  t.is(served.length, 0);
});
