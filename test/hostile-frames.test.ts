import test from 'ava';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import * as hostile from '../src/harness/hostile-frames.ts';
import { PROTOCOL_VERSION } from '../src/wire/frame.ts';
import { startServer, type RunningServer } from '../src/harness/lottery-processes.ts';
import { connectRaw } from './helpers/raw-connection.ts';
import { tempDir } from './helpers/lottery-fixtures.ts';

// The frames that once broke the server, each written byte by byte (see
// src/harness/hostile-frames.ts), each against a real server with one session
// worker, so that a neighbour shares the worker with the hostile peer. Each
// test checks the bound that now holds; the CPU each costs is measured by
// `npm run bench -- --mode hostile`, not here.

/** The server's resident memory, from /proc. */
async function rssBytes(server: RunningServer): Promise<number> {
  const status = await readFile(`/proc/${server.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

async function oneWorkerServer(t: import('ava').ExecutionContext, extra: string[] = []): Promise<RunningServer> {
  const dir = await tempDir(t);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--workers', '1', ...extra]);
  t.teardown(() => server.stop());
  return server;
}

/** A neighbour on the same worker still gets its PONG. */
async function neighbourIsServed(t: import('ava').ExecutionContext, port: number): Promise<void> {
  const neighbour = await connectRaw(port);
  neighbour.sendBytes(hostile.ping());
  t.deepEqual(await neighbour.receive(), { type: 'PONG' });
  neighbour.destroy();
}

test('the 365-byte shared-reference bomb is BAD_MESSAGE on its first extension byte, and nothing logged grows with it', async (t) => {
  const server = await oneWorkerServer(t);
  // Only what the attack makes the server log counts: the start-up lines
  // (the settings, one per key) are as long as they are whatever comes.
  const startUpLines = server.lines.length;
  const bomb = hostile.sharedReferenceBets(24);
  t.is(bomb.length, 365);
  // Forty of them, as the attack sent: each on its own connection after HELLO.
  for (let i = 0; i < 40; i++) {
    const connection = await connectRaw(server.port);
    connection.sendBytes(Buffer.concat([hostile.hello(1), bomb]));
    t.like(await connection.receive(), { type: 'WELCOME' });
    const answer = await connection.receive();
    t.like(answer, { type: 'ERROR', code: 'BAD_MESSAGE', message: 'BETS payload: a msgpack extension (0xd6) at byte 17' });
    await connection.closed;
  }
  await neighbourIsServed(t, server.port);
  const attackLines = server.lines.slice(startUpLines);
  t.true(
    attackLines.some((line) => line.includes('BAD_MESSAGE')),
    'the refusals are logged',
  );
  const longest = Math.max(...attackLines.map((line) => line.length));
  t.true(longest < 400, `the longest log line has ${longest} characters`);
});

test('PINGs with 2,040-key maps are BAD_MESSAGE at the map header; the rest of the pipeline is never handled', async (t) => {
  const server = await oneWorkerServer(t);
  const frame = hostile.frame('PING', hostile.manyKeysMap(2040));
  t.true(frame.length <= 8192);
  const connection = await connectRaw(server.port);
  connection.sendBytes(Buffer.concat(new Array(50).fill(frame)));
  t.like(await connection.receive(), {
    type: 'ERROR',
    code: 'BAD_MESSAGE',
    message: 'PING payload: a map of 2040 entries (at most 16) at byte 0',
  });
  await connection.closed;
  await t.throwsAsync(connection.receive(1), undefined, 'one answer, then the connection is closed');
  await neighbourIsServed(t, server.port);
});

test('arrays nested 8,000 deep are BAD_MESSAGE at the ninth level', async (t) => {
  const server = await oneWorkerServer(t);
  const connection = await connectRaw(server.port);
  connection.sendBytes(Buffer.concat([hostile.hello(1), hostile.deepBets(8000)]));
  t.like(await connection.receive(), { type: 'WELCOME' });
  t.like(await connection.receive(), {
    type: 'ERROR',
    code: 'BAD_MESSAGE',
    message: 'BETS payload: nesting deeper than 8 levels at byte 21',
  });
  await connection.closed;
});

test('invalid bets are described in a bounded, escaped message and the connection goes on', async (t) => {
  const server = await oneWorkerServer(t);
  const connection = await connectRaw(server.port);
  t.teardown(() => connection.destroy());
  const last = hostile.lastBetInvalid(0);
  const empty = hostile.emptyBets(last.count);
  const long = hostile.longControlName(last.count + empty.count);
  const utf8Offset = last.count + empty.count + long.count;
  connection.sendBytes(
    Buffer.concat([hostile.hello(1), last.frame, empty.frame, long.frame, hostile.invalidUtf8Bets(utf8Offset), hostile.ping()]),
  );
  const welcome = await connection.receive();
  t.like(welcome, { type: 'WELCOME' }, JSON.stringify(welcome));
  // The PING is answered at once; each batch once the Store has used up its offsets.
  const received = [];
  for (let i = 0; i < 5; i++) received.push(await connection.receive());
  t.deepEqual(
    received.filter((message) => message.type === 'PONG'),
    [{ type: 'PONG' }],
    'still open after four refused batches',
  );
  const answers = received.filter((message) => message.type !== 'PONG');
  const messages = answers.map((answer) => {
    t.like(answer, { type: 'ERROR', code: 'INVALID_BET' });
    return (answer as { message: string }).message;
  });
  t.regex(
    messages[0],
    new RegExp(
      `^bet ${last.count - 1} of the batch: first_name must not contain a bidirectional control: U\\+202E at character 98 of …"A+\\\\u\\{202E\\}"$`,
    ),
  );
  t.regex(messages[1], /^bet 0 of the batch: a bet has 5 fields, this one has 0$/);
  t.regex(messages[2], /^bet 0 of the batch: first_name must not contain a control character: U\+0085/);
  t.regex(messages[3], /^bet 0 of the batch: first_name must not contain bytes that are not valid UTF-8/);
  for (const message of messages) {
    t.true(message.length < 200, `${message.length} characters`);
    t.false(/[\u0080-\u009f\u202e\ufffd]/u.test(message), `shown escaped: ${message}`);
  }
});

test('a peer that pings and never reads is no longer read, the server stays small, and it is cut off after --idle-timeout', async (t) => {
  const server = await oneWorkerServer(t, ['--idle-timeout', '1']);
  const before = await rssBytes(server);
  const peer = net.connect({ port: server.port, host: '127.0.0.1' });
  await new Promise((resolve) => peer.once('connect', resolve));
  peer.on('error', () => undefined);
  peer.pause();
  const closed = new Promise((resolve) => peer.once('close', resolve));
  let gone = false;
  void closed.then(() => (gone = true));
  const pings = Buffer.concat(new Array(100_000).fill(hostile.ping()));
  // It says HELLO, so that the handshake timeout is not what ends it.
  peer.write(hostile.hello(1));
  let offered = 0;
  // Pings as fast as the socket takes them, until the server closes the connection.
  while (!gone && offered < 500 * 2 ** 20) {
    offered += pings.length;
    if (!peer.write(pings)) await Promise.race([new Promise((resolve) => peer.once('drain', resolve)), closed]);
  }
  const after = await rssBytes(server);
  t.log(
    `offered ${(offered / 2 ** 20).toFixed(1)} MiB of PINGs before the server closed; its RSS ${(before / 2 ** 20).toFixed(0)} MiB before, ${(after / 2 ** 20).toFixed(0)} MiB after`,
  );
  t.true(offered < 500 * 2 ** 20, 'the server stopped reading, then closed the connection');
  // The burst it handled before it stopped reading leaves garbage the heap keeps for a while; nothing grows with what was offered.
  t.true(after - before < 256 * 2 ** 20, `RSS grew by ${((after - before) / 2 ** 20).toFixed(0)} MiB`);
  t.true(server.lines.some((line) => /code: TIMEOUT \| error: \d+ bytes of replies unread for 1 s/.test(line)));
  await neighbourIsServed(t, server.port);
});

test('one byte of a frame at a time, never silent for an idle timeout, is cut off by --frame-timeout', async (t) => {
  // Bytes every 0.1 s keep a 1 s idle timeout from ever firing, however loaded the machine.
  const server = await oneWorkerServer(t, ['--idle-timeout', '1', '--frame-timeout', '0.5']);
  const connection = await connectRaw(server.port);
  t.teardown(() => connection.destroy());
  connection.sendBytes(hostile.hello(1));
  t.like(await connection.receive(), { type: 'WELCOME' });
  // A BETS frame that says 8,000 bytes follow; they come one at a time.
  const header = Uint8Array.from([0x4c, 0x54, PROTOCOL_VERSION, 0x03, 0, 0, 0x1f, 0x40]);
  let sent = 0;
  const trickle = setInterval(() => connection.sendBytes(header.subarray(sent % 8, (sent++ % 8) + 1)), 100);
  t.teardown(() => clearInterval(trickle));
  const answer = await connection.receive();
  t.like(answer, { type: 'ERROR', code: 'TIMEOUT' });
  t.regex((answer as { message: string }).message, /^a frame not complete within 0\.5 s: \d+ bytes of it came$/);
  await connection.closed;
});
