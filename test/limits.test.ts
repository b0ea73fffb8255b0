import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { join } from 'node:path';
import { startAgency, startServer } from '../src/harness/lottery-processes.ts';
import { encodeMessage } from '../src/wire/codec.ts';
import { PROTOCOL_VERSION } from '../src/wire/frame.ts';
import { connectRaw, type RawConnection } from './helpers/raw-connection.ts';
import { agencyFiles, sorted, tempDir } from './helpers/lottery-fixtures.ts';
import { EMPTY_UPLOAD_DIGEST } from '../src/bets/upload-digest.ts';

test('with 300 idle connections held open, real agencies still complete normally', async (t) => {
  const { dir, files, winners } = await agencyFiles(t, [
    { count: 200, winnerRows: [3] },
    { count: 200, winnerRows: [] },
  ]);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--agencies', '2', '--handshake-timeout', '600']);
  t.teardown(() => server.stop());
  const idle: RawConnection[] = [];
  t.teardown(() => idle.forEach((connection) => connection.destroy()));
  for (let i = 0; i < 300; i++) idle.push(await connectRaw(server.port));
  const runs = await Promise.all(files.map((file, i) => startAgency(i + 1, server.port, ['--data-file', file]).result));
  runs.forEach((run, i) => {
    t.is(run.code, 0);
    t.deepEqual(sorted(run.winners ?? []), winners[i]);
  });
  // The idle connections are still being served.
  idle[299].send({ type: 'PING' });
  t.deepEqual(await idle[299].receive(), { type: 'PONG' });
});

test('past --max-connections a connection gets TOO_MANY_CONNECTIONS, and a freed place is given again', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--max-connections', '3']);
  t.teardown(() => server.stop());
  const held = [await connectRaw(server.port), await connectRaw(server.port), await connectRaw(server.port)];
  t.teardown(() => held.forEach((connection) => connection.destroy()));
  for (const connection of held) {
    connection.send({ type: 'PING' });
    t.deepEqual(await connection.receive(), { type: 'PONG' });
  }
  const refused = await connectRaw(server.port);
  t.like(await refused.receive(), { type: 'ERROR', code: 'TOO_MANY_CONNECTIONS' });
  await refused.closed;

  held[0].destroy();
  // The release reaches the acceptor asynchronously; try until a place is given.
  let accepted: RawConnection | undefined;
  for (let attempt = 0; attempt < 100 && accepted === undefined; attempt++) {
    const connection = await connectRaw(server.port);
    connection.send({ type: 'PING' });
    const answer = await connection.receive();
    if (answer.type === 'PONG') accepted = connection;
    else {
      t.like(answer, { type: 'ERROR', code: 'TOO_MANY_CONNECTIONS' });
      await sleep(50);
    }
  }
  t.truthy(accepted, 'a place freed by a closed connection is given to a new one');
  accepted?.destroy();
});

test('a connection that never says HELLO is closed with TIMEOUT after --handshake-timeout', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--handshake-timeout', '0.3']);
  t.teardown(() => server.stop());
  const connection = await connectRaw(server.port);
  t.like(await connection.receive(), { type: 'ERROR', code: 'TIMEOUT', message: 'no HELLO within 0.3 s' });
  await connection.closed;
});

// Timing tests below hold on a loaded machine: every client step that has to
// happen inside a timeout is sent ahead in one write, and the timeouts that
// must not fire are many times longer than any stall the test can cause.

test('a frame cut off and then silence is closed with TIMEOUT after --idle-timeout', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--idle-timeout', '0.3']);
  t.teardown(() => server.stop());
  const connection = await connectRaw(server.port);
  // HELLO and the first 9 bytes of a BETS frame in one write: the silence that follows is the peer's alone.
  connection.sendBytes(
    Buffer.concat([encodeMessage({ type: 'HELLO', agency: 1 }), Buffer.from([0x4c, 0x54, PROTOCOL_VERSION, 0x03, 0, 0, 0, 50, 0x82])]),
  );
  t.like(await connection.receive(), { type: 'WELCOME' });
  const answer = await connection.receive();
  t.like(answer, { type: 'ERROR', code: 'TIMEOUT' });
  t.regex((answer as { message: string }).message, /a frame cut off after 9 bytes for 0\.3 s/);
  await connection.closed;
});

test('a frame trickled in byte by byte is closed with TIMEOUT after --frame-timeout, though the peer is never silent', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--idle-timeout', '600', '--frame-timeout', '0.3']);
  t.teardown(() => server.stop());
  const connection = await connectRaw(server.port);
  t.teardown(() => connection.destroy());
  const frame = encodeMessage({ type: 'HELLO', agency: 1 });
  connection.sendBytes(frame.subarray(0, 1));
  // One byte every 50 ms would finish the 17-byte frame in under a second on an idle machine, so
  // send only half of it: whatever the load, the frame is never complete and only its deadline can end it.
  const trickle = setInterval(() => {
    const sent = connection.socket.bytesWritten;
    if (sent < frame.length / 2) connection.sendBytes(frame.subarray(sent, sent + 1));
  }, 50);
  t.teardown(() => clearInterval(trickle));
  const answer = await connection.receive();
  t.like(answer, { type: 'ERROR', code: 'TIMEOUT' });
  t.regex((answer as { message: string }).message, /^a frame not complete within 0\.3 s: \d+ bytes of it came$/);
  await connection.closed;
});

const IDLE_TIMEOUT_S = 0.25;

test('an agency waiting for the draw is not closed by the idle timeout', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--agencies', '2', '--idle-timeout', String(IDLE_TIMEOUT_S)]);
  t.teardown(() => server.stop());
  const waiting = await connectRaw(server.port);
  t.teardown(() => waiting.destroy());
  // HELLO, FINISH and WINNERS in one write: from here on the server owes this agency its answer.
  waiting.sendBytes(
    Buffer.concat([
      encodeMessage({ type: 'HELLO', agency: 1 }),
      encodeMessage({ type: 'FINISH', total: 0, digest: EMPTY_UPLOAD_DIGEST }),
      encodeMessage({ type: 'WINNERS' }),
    ]),
  );
  t.like(await waiting.receive(), { type: 'WELCOME' });
  t.deepEqual(await waiting.receive(), { type: 'ACK', offset: 0 });
  // Ten idle timeouts pass while agency 2 has yet to finish; the waiting agency says nothing.
  await sleep(10 * IDLE_TIMEOUT_S * 1000);
  const other = await connectRaw(server.port);
  t.teardown(() => other.destroy());
  other.sendBytes(
    Buffer.concat([encodeMessage({ type: 'HELLO', agency: 2 }), encodeMessage({ type: 'FINISH', total: 0, digest: EMPTY_UPLOAD_DIGEST })]),
  );
  t.deepEqual(await waiting.receive(), { type: 'RESULT', documents: [], last: true });
});
