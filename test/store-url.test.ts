// The --store URL, --lottery and the agency's --server list, as the
// programs read them: a password never shown, bad values refused in one line
// that names the flag.
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import net from 'node:net';
import { loadAgencyConfig } from '../src/config/agency-config.ts';
import { parseServerList } from '../src/config/formats.ts';
import { loadServerConfig } from '../src/config/server-config.ts';
import { ConfigExit } from '../src/errors.ts';
import { connectionOptions, hostCount, HostOrder, maskedStoreUrl } from '../src/storage/postgres/store-url.ts';

test('the store URL is shown with its password masked, wherever the password is', (t) => {
  t.is(
    maskedStoreUrl('postgres://lottery:s3cr%40t@h1:5432,h2:5432/db?target_session_attrs=read-write'),
    'postgres://lottery:***@h1:5432,h2:5432/db?target_session_attrs=read-write',
  );
  t.is(
    maskedStoreUrl('postgresql://lottery@h1/db?sslmode=require&password=hunter2'),
    'postgresql://lottery@h1/db?sslmode=require&password=***',
  );
  t.is(maskedStoreUrl('postgres://h1/db'), 'postgres://h1/db');
});

test('a --store that is not a PostgreSQL URL is refused naming the flag, without repeating the value', (t) => {
  const error = t.throws(() => loadServerConfig(['--store', 'mysql://root:hunter2@db/lottery'], {}), { instanceOf: ConfigExit });
  t.regex(error!.message, /--store \(LOTTERY_STORE\): must be a PostgreSQL URL/);
  t.notRegex(error!.message, /hunter2/);
});

test('--lottery must be a plain name', (t) => {
  t.is(loadServerConfig(['--lottery', 'spring_2026.a'], {}).lottery, 'spring_2026.a');
  for (const bad of ['', 'two words', "o'clock", 'x'.repeat(64), '-leading']) {
    t.throws(() => loadServerConfig(['--lottery', bad], {}), { instanceOf: ConfigExit, message: /--lottery/ }, bad);
  }
});

test('an agency takes several front-ends in --server or CLI_SERVER_ADDRESS, in order, and refuses a list with a bad one', (t) => {
  const flag = loadAgencyConfig(['--id', '1', '--server', 'fe1:12345,[::1]:7,fe3:1'], {});
  t.deepEqual(parseServerList(flag.server), [
    { host: 'fe1', port: 12345 },
    { host: '::1', port: 7 },
    { host: 'fe3', port: 1 },
  ]);
  const env = loadAgencyConfig(['--id', '1'], { CLI_SERVER_ADDRESS: 'a:1,b:2' });
  t.deepEqual(parseServerList(env.server), [
    { host: 'a', port: 1 },
    { host: 'b', port: 2 },
  ]);
  for (const bad of ['a:1,', 'a:1,b', 'a:1,,b:2', 'a:1,b:70000']) {
    t.throws(() => loadAgencyConfig(['--id', '1', '--server', bad], {}), { instanceOf: ConfigExit, message: /--server/ }, bad);
  }
});

test('a server whose database cannot be reached exits 1 saying so, and its password is in none of its lines', async (t) => {
  const { startProgram, CLOSED_PORT } = await import('../src/harness/lottery-processes.ts');
  const { tempDir } = await import('./helpers/lottery-fixtures.ts');
  const dir = await tempDir(t);
  const server = startProgram('lottery-server', [
    ...['--host', '127.0.0.1', '--port', '0', '--data-dir', dir],
    ...['--store', `postgres://lottery:hunter2@127.0.0.1:${CLOSED_PORT}/lottery`],
  ]);
  t.is(await server.exited, 1);
  t.true(server.lines.some((line) => line.includes(`store: postgres://lottery:***@127.0.0.1:${CLOSED_PORT}/lottery`)));
  t.true(server.lines.some((line) => /action: start \| result: fail \| error: the store could not start: connect ECONNREFUSED/.test(line)));
  t.false(server.lines.some((line) => line.includes('hunter2')));
});

test("read-write in the URL asks postgres.js for a primary, as libpq's read-write passes over a hot standby; other attributes are its own", (t) => {
  const attrs = (url: string) => (connectionOptions(url, 'test') as { target_session_attrs?: string }).target_session_attrs;
  t.is(attrs('postgres://lottery@h1:5432,h2:5432/db?target_session_attrs=read-write'), 'primary');
  t.is(attrs('postgres://lottery@h1,h2/db?sslmode=require&target_session_attrs=read-write'), 'primary');
  t.is(attrs('postgres://lottery@h1,h2/db?target_session_attrs=prefer-standby'), undefined);
  t.is(attrs('postgres://lottery@h1/db'), undefined);
  t.is(connectionOptions('postgres://h1/db', 'lottery-server').connection.application_name, 'lottery-server');
});

/**
 * Two listeners on 127.0.0.1, each handing its connections to its own
 * handler, and the store's socket factory for a URL naming both, the first
 * first. Every connection either side holds is destroyed after the test.
 */
async function twoHosts(t: ExecutionContext, handlers: [(socket: net.Socket) => void, (socket: net.Socket) => void]) {
  const held: net.Socket[] = [];
  const servers = handlers.map((handler) =>
    net.createServer((socket) => {
      held.push(socket);
      handler(socket);
    }),
  );
  for (const server of servers) server.listen(0, '127.0.0.1');
  await Promise.all(servers.map((server) => once(server, 'listening')));
  t.teardown(() => {
    held.forEach((socket) => socket.destroy());
    servers.forEach((server) => server.close());
  });
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  const { socket } = connectionOptions(`postgres://lottery@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}/db`, 'test');
  const connect = () => {
    const made = socket({ host: ['127.0.0.1', '127.0.0.1'], port: ports });
    made.on('error', () => undefined);
    return made;
  };
  return { servers, ports, socket, connect };
}

test("postgres.js's sockets go to the URL's first host while it holds, then to the next, each named as postgres.js names a host", async (t) => {
  // The first host ends every connection at once (as a server that is lost, or not the one asked for); the second keeps them.
  const { servers, ports, connect } = await twoHosts(t, [(socket) => socket.destroy(), () => undefined]);
  const accepted = [0, 0];
  servers.forEach((server, i) => server.on('connection', () => accepted[i]++));
  const first = connect();
  t.deepEqual([first.host, first.port], ['127.0.0.1', ports[0]]);
  await once(first, 'close');
  const later = [connect(), connect()];
  t.deepEqual(
    later.map((s) => [s.host, s.port]),
    [
      ['127.0.0.1', ports[1]],
      ['127.0.0.1', ports[1]],
    ],
  );
  // Both taken by the second host: its side of each connection is seen.
  while (accepted[1] < 2) await once(servers[1], 'connection');
  t.deepEqual(accepted, [1, 2]);
  later.forEach((s) => s.destroy());
});

test('connections go to the first host until one to it ends, then to the next, and from the last back to the first', (t) => {
  const order = new HostOrder(3);
  const picks = [order.next(), order.next()];
  t.deepEqual(picks, [0, 0], 'a healthy first host takes every connection');
  order.ended(0);
  t.is(order.next(), 1);
  // Connections to a host already left end too (the rest of its pool): they move nothing.
  order.ended(0);
  order.ended(0);
  t.is(order.next(), 1);
  order.ended(1);
  t.is(order.next(), 2);
  order.ended(2);
  t.is(order.next(), 0);
});

test('one host: every connection goes to it, whatever ends', (t) => {
  const order = new HostOrder(1);
  order.ended(0);
  t.is(order.next(), 0);
});

test('abandon destroys every connection still open, so that a host that never answers is left for the next at once', async (t) => {
  // The first host takes connections and never answers nor closes them, as a server that has hung.
  const { ports, socket, connect } = await twoHosts(t, [() => undefined, (socket) => socket.destroy()]);
  const pool = [connect(), connect()];
  await Promise.all(pool.map((made) => once(made, 'connect')));
  // One already asked to close, as a pool's end asks: a hung server never answers that, and it stays open.
  pool[0].end();
  const closed = Promise.all(pool.map((made) => once(made, 'close')));
  socket.abandon();
  t.true(
    pool.every((made) => made.destroyed),
    'every connection is destroyed',
  );
  await closed;
  t.is(connect().port, ports[1], 'the next connection goes to the next host');
});

test('the hosts a URL names are counted as libpq lists them', (t) => {
  t.is(hostCount('postgres://lottery@db1:5432,db2:5432/lottery?target_session_attrs=read-write'), 2);
  t.is(hostCount('postgresql://lottery:secret@db1,db2,db3/lottery'), 3);
  t.is(hostCount('postgres://db1/lottery'), 1);
  t.is(hostCount('postgres:///lottery?host=/run/postgresql'), 1);
});
