// A front-end that takes an agency's connection and then falls silent: no
// answer and no end of the connection, as when its machine loses power or
// the network between them is cut. Such a TCP connection would wait for
// minutes; the agency gives the server --reply-timeout to answer a batch,
// FINISH or PING, then takes the connection as lost and moves on to the next
// front-end it was given. The silent front-ends here are scripted servers;
// the one the agency moves to is a real lottery-server.

import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import { join } from 'node:path';
import { startProgram, winnersIn } from '../src/harness/lottery-processes.ts';
import { decodeMessage, encodeMessage } from '../src/wire/codec.ts';
import { FrameDecoder } from '../src/wire/frame-decoder.ts';
import type { Message } from '../src/wire/messages.ts';
import { agencyFiles, serverFor, sorted, storedRows, within } from './helpers/lottery-fixtures.ts';

/** What a scripted front-end answers to each message: the frames to write, none to stay silent. */
type Script = (message: Message) => Message[];

/** A scripted front-end on 127.0.0.1; it never closes a connection, and counts the PINGs it got. */
async function scriptedFrontEnd(t: ExecutionContext, script: Script) {
  const seen = { pings: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const decoder = new FrameDecoder();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const message = decodeMessage(frame);
        if (message.type === 'PING') seen.pings++;
        for (const answer of script(message)) socket.write(encodeMessage(answer));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, seen };
}

const welcome: Message = { type: 'WELCOME', offset: 0, finished: false, drawn: false };

/** Takes every batch and the FINISH as a live server does, then holds WINNERS for good. */
function acknowledging(message: Message): Message[] {
  if (message.type === 'HELLO') return [welcome];
  if (message.type === 'BETS') return [{ type: 'ACK', offset: message.offset + message.bets.length }];
  if (message.type === 'FINISH') return [{ type: 'ACK', offset: message.total }];
  return [];
}

/**
 * lottery-agency `id` (1 unless given) with `file`, given `servers` in order; killed after the test if still
 * running. The reply timeout is seconds, not the default 30, yet long enough that a live server on a busy
 * machine is never taken for gone.
 */
function agency(t: ExecutionContext, file: string, servers: number[], { replyTimeout = 3, id = 1, args = [] as string[] } = {}) {
  const program = startProgram('lottery-agency', [
    '--id',
    String(id),
    '--server',
    servers.map((port) => `127.0.0.1:${port}`).join(','),
    '--data-file',
    file,
    '--batch-max-amount',
    '10',
    '--reply-timeout',
    String(replyTimeout),
    ...args,
  ]);
  t.teardown(() => void program.child.kill('SIGKILL'));
  return program;
}

/** The agency's conexion fail lines. */
const failures = (lines: readonly string[]) => lines.filter((line) => /action: conexion \| result: fail/.test(line));

test('a front-end that falls silent mid-upload is left after --reply-timeout; the next one stores every bet once', async (t) => {
  const { dir, files, rows, winners } = await agencyFiles(t, [{ count: 200, winnerRows: [3, 150] }]);
  // Welcomes the agency, then never answers a batch.
  const silent = await scriptedFrontEnd(t, (message) => (message.type === 'HELLO' ? [welcome] : []));
  const dataDir = join(dir, 'server');
  const live = await serverFor(t, dataDir, ['--agencies', '1']);
  const run = agency(t, files[0], [silent.port, live.port]);

  t.is(await within(run.exited, 'the agency done, long before its 300 s winners timeout'), 0, run.lines.join('\n'));
  t.deepEqual(sorted(winnersIn(run.lines) ?? []), winners[0]);
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted(rows));
  const [failure, ...more] = failures(run.lines);
  t.deepEqual(more, [], 'one front-end left, once');
  t.regex(
    failure ?? '',
    new RegExp(
      `code: TIMEOUT \\| error: no answer from 127\\.0\\.0\\.1:${silent.port} within 3 s \\(--reply-timeout\\): the connection is taken as lost .*siguiente: 127\\.0\\.0\\.1:${live.port}`,
    ),
  );
});

test('a front-end holding the winners request that leaves a PING unanswered is left; the next one answers the winners', async (t) => {
  const { dir, files, rows, winners } = await agencyFiles(t, [{ count: 120, winnerRows: [60] }]);
  // Takes the whole upload, then holds WINNERS and answers nothing more.
  const silent = await scriptedFrontEnd(t, acknowledging);
  const dataDir = join(dir, 'server');
  const live = await serverFor(t, dataDir, ['--agencies', '1']);
  const run = agency(t, files[0], [silent.port, live.port]);

  t.is(await within(run.exited, 'the agency done, long before its 300 s winners timeout'), 0, run.lines.join('\n'));
  t.is(silent.seen.pings, 1, 'one PING, after half the reply timeout of silence, then the whole timeout for its answer');
  t.deepEqual(sorted(winnersIn(run.lines) ?? []), winners[0]);
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted(rows), 'the live front-end took the whole upload again');
  const [failure, ...more] = failures(run.lines);
  t.deepEqual(more, [], 'one front-end left, once');
  t.regex(
    failure ?? '',
    new RegExp(
      `code: TIMEOUT \\| error: no answer to PING, while it held the winners request, from 127\\.0\\.0\\.1:${silent.port} within 3 s \\(--reply-timeout\\)`,
    ),
  );
});

test('a front-end that holds the winners request and answers each PING is waited for, however long the draw takes', async (t) => {
  const { files } = await agencyFiles(t, [{ count: 30 }]);
  const drawnAfterPings = 3;
  // A lottery whose draw comes only after the agency has PINGed it three times, each 1 s of silence apart.
  const held = await scriptedFrontEnd(t, (message) => {
    if (message.type !== 'PING') return acknowledging(message);
    return held.seen.pings < drawnAfterPings ? [{ type: 'PONG' }] : [{ type: 'RESULT', documents: ['30111222'], last: true }];
  });
  const run = agency(t, files[0], [held.port], { replyTimeout: 2 });

  t.is(await within(run.exited, 'the agency done'), 0, run.lines.join('\n'));
  t.is(held.seen.pings, drawnAfterPings, 'it kept the connection through the silences, PINGing each time');
  t.deepEqual(winnersIn(run.lines), ['30111222']);
  t.deepEqual(failures(run.lines), [], 'a server that answers its PINGs is never left');
});

test('a real server answers the PINGs of an agency whose winners it holds: the agency stays until the draw', async (t) => {
  const { dir, files, rows, winners } = await agencyFiles(t, [
    { count: 40, winnerRows: [5] },
    { count: 40, winnerRows: [9] },
  ]);
  const dataDir = join(dir, 'server');
  const live = await serverFor(t, dataDir, ['--agencies', '2']);
  // Between agency 1 and the server: relays both ways, counting the PINGs agency 1 sends.
  const pinged = Promise.withResolvers<void>();
  let pings = 0;
  const relay = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: live.port });
    const decoder = new FrameDecoder();
    for (const socket of [client, upstream]) socket.on('error', () => [client, upstream].forEach((end) => end.destroy()));
    client.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) if (decodeMessage(frame).type === 'PING' && ++pings === 2) pinged.resolve();
    });
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.teardown(() => relay.close());
  const first = agency(t, files[0], [(relay.address() as net.AddressInfo).port], { replyTimeout: 2 });

  await within(pinged.promise, 'agency 1 PINGing the server that holds its winners request');
  const second = agency(t, files[1], [live.port], { id: 2 });
  for (const [run, own] of [
    [first, winners[0]],
    [second, winners[1]],
  ] as const) {
    t.is(await within(run.exited, 'an agency done'), 0, run.lines.join('\n'));
    t.deepEqual(sorted(winnersIn(run.lines) ?? []), own);
    t.deepEqual(failures(run.lines), [], 'the server answered every PING in time');
  }
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted(rows));
});

test('a front-end that answers every PING and never the winners keeps the agency no longer than --winners-timeout', async (t) => {
  const { files } = await agencyFiles(t, [{ count: 30 }]);
  // Alive by every sign the agency can see, and never drawing: each PING answered, a WAITING pushed with each.
  const stalling = await scriptedFrontEnd(t, (message) =>
    message.type === 'PING' ? [{ type: 'PONG' }, { type: 'WAITING', finished: 0, agencies: 2 }] : acknowledging(message),
  );
  const run = agency(t, files[0], [stalling.port], { replyTimeout: 2, args: ['--winners-timeout', '4'] });

  t.is(await within(run.exited, 'the agency giving up'), 1, run.lines.join('\n'));
  t.true(stalling.seen.pings >= 2, `it PINGed while it waited (${stalling.seen.pings})`);
  t.regex(run.lines.at(-1) ?? '', /action: agencia \| result: fail \| error: no winners within 4 s: the draw has not taken place/);
  t.deepEqual(failures(run.lines), [], 'a server that answers is not left for silence');
});
