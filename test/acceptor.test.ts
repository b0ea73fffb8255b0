import test from 'ava';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import { Acceptor, REFUSALS_AT_ONCE } from '../src/actors/acceptor.ts';
import { createLogger } from '../src/log/logger.ts';

// The Acceptor alone, on 127.0.0.1: what a flood of connections past the
// limit can hold open on the server.

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
