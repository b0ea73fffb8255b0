// The wire protocol, spoken frame by frame over raw sockets to a real
// lottery-server, for what needs the whole server: a reconnecting agency
// resumes where the Store says it stands, WINNERS is held until the last
// agency's FINISH makes the draw, and a large RESULT reaches the agency
// program over several frames. Each rule of the protocol on its own is
// checked against the Session's state machine (session-protocol.test.ts) and
// the Session over an in-memory transport (session-in-memory.test.ts).
import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { generateBets, writeAgencyFile } from '../src/bets/bet-generator.ts';
import { packValue } from '../src/wire/codec.ts';
import { MAX_FRAME_SIZE, MAX_PAYLOAD_SIZE } from '../src/wire/frame.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { connectRaw, type RawConnection } from './helpers/raw-connection.ts';
import { agencyFor, GUARD_MS, serverFor, sorted, storedRows, tempDir, within } from './helpers/lottery-fixtures.ts';
import { uploadDigestOf } from '../src/bets/upload-digest.ts';

type Client = Omit<RawConnection, 'closed'> & {
  /** Resolves once the server has closed the connection. */
  closed(): Promise<void>;
};

/** A raw connection to the server (test/helpers/raw-connection.ts), destroyed after the test, every wait guarded. */
async function connect(t: ExecutionContext, port: number): Promise<Client> {
  const connection = await within(connectRaw(port), 'connect');
  t.teardown(() => connection.destroy());
  return {
    ...connection,
    receive: () => within(connection.receive(GUARD_MS), 'a message from the server'),
    receiveFrame: () => within(connection.receiveFrame(GUARD_MS), 'a message from the server'),
    closed: () => within(connection.closed, 'the server closing the connection'),
  };
}

/** A client that has said HELLO as `agency` and got its WELCOME. */
async function hello(t: ExecutionContext, port: number, agency: number) {
  const client = await connect(t, port);
  client.send({ type: 'HELLO', agency });
  const welcome = await client.receive();
  t.like(welcome, { type: 'WELCOME' }, `agency ${agency} is welcome`);
  return { client, welcome };
}

async function startServer(t: ExecutionContext, args: string[] = []) {
  const dir = await tempDir(t);
  const dataDir = join(dir, 'server');
  const server = await serverFor(t, dataDir, args);
  return { dir, dataDir, server };
}

const bet = (first: string, last: string, document: string, number = 1): WireBet => [first, last, document, '1990-05-17', number];
const row = (agency: number, [first, last, document, birthdate, number]: WireBet) =>
  `${agency},${first},${last},${document},${birthdate},${number}`;

test('an agency with 2,000 winners gets RESULT split over several frames of at most 8192 bytes, and the agency program logs them all', async (t) => {
  const { dir, server } = await startServer(t, ['--agencies', '1']);
  const winnerRows = Array.from({ length: 2000 }, (_, i) => i + Math.floor(i / 4));
  const bets = generateBets({ seed: 42, count: 2500, winnerRows });
  const file = join(dir, 'agency-1.csv');
  await writeAgencyFile(file, bets);
  const expected = sorted(winnerRows.map((i) => bets[i][2]));

  const run = await agencyFor(t, 1, server.port, ['--data-file', file]).result;
  t.is(run.code, 0, run.lines.slice(-5).join('\n'));
  t.is(run.winners?.length, 2000);
  t.deepEqual(sorted(run.winners ?? []), expected);

  // The same answer, frame by frame.
  const { client, welcome } = await hello(t, server.port, 1);
  t.deepEqual(welcome, { type: 'WELCOME', offset: 2500, finished: true, drawn: true, total: 2500, digest: uploadDigestOf(1, bets) });
  client.send({ type: 'WINNERS' });
  const frames: Array<{ documents: string[]; last: boolean; size: number }> = [];
  while (frames.at(-1)?.last !== true) {
    const { message, size } = await client.receiveFrame();
    if (message.type !== 'RESULT') return t.fail(`expected RESULT, got ${JSON.stringify(message)}`);
    frames.push({ documents: message.documents, last: message.last, size });
  }
  const documentBytes = expected.reduce((sum, document) => sum + packValue(document).length, 0);
  t.true(frames.length >= Math.ceil(documentBytes / MAX_PAYLOAD_SIZE), `${frames.length} frames for ${documentBytes} bytes of documents`);
  t.true(frames.length >= 3);
  for (const [i, frame] of frames.entries()) {
    t.true(frame.size <= MAX_FRAME_SIZE, `frame ${i} is ${frame.size} bytes`);
    t.is(frame.last, i === frames.length - 1, 'only the last frame says last');
  }
  t.deepEqual(sorted(frames.flatMap((frame) => frame.documents)), expected);
});

test("WINNERS is not answered before the last agency's FINISH, and is answered once it comes", async (t) => {
  const { server } = await startServer(t, ['--agencies', '2']);
  const first = await hello(t, server.port, 1);
  first.client.send({ type: 'BETS', offset: 0, bets: [bet('Ana', 'Gómez', '111', 7574), bet('Beto', 'Núñez', '222', 7573)] });
  t.deepEqual(await first.client.receive(), { type: 'ACK', offset: 2 });
  first.client.send({
    type: 'FINISH',
    total: 2,
    digest: uploadDigestOf(1, [bet('Ana', 'Gómez', '111', 7574), bet('Beto', 'Núñez', '222', 7573)]),
  });
  t.deepEqual(await first.client.receive(), { type: 'ACK', offset: 2 });
  first.client.send({ type: 'WINNERS' });
  first.client.send({ type: 'PING' });
  t.deepEqual(await first.client.receive(), { type: 'PONG' }, 'no RESULT comes before the PONG');

  // Agency 2 has not finished: still no RESULT, and the connection is still served.
  const second = await hello(t, server.port, 2);
  second.client.send({ type: 'BETS', offset: 0, bets: [bet('Ceci', 'Pérez', '333', 7574)] });
  t.deepEqual(await second.client.receive(), { type: 'ACK', offset: 1 });
  first.client.send({ type: 'PING' });
  t.deepEqual(await first.client.receive(), { type: 'PONG' }, 'still no RESULT while agency 2 is uploading');
  t.false(
    server.lines.some((line) => /action: sorteo/.test(line)),
    'no draw yet',
  );

  second.client.send({ type: 'FINISH', total: 1, digest: uploadDigestOf(2, [bet('Ceci', 'Pérez', '333', 7574)]) });
  t.deepEqual(await second.client.receive(), { type: 'ACK', offset: 1 });
  t.deepEqual(await first.client.receive(), { type: 'RESULT', documents: ['111'], last: true }, 'agency 1 gets its own winners only');
  second.client.send({ type: 'WINNERS' });
  t.deepEqual(await second.client.receive(), { type: 'RESULT', documents: ['333'], last: true });

  const draw = server.lines.findIndex((line) => /action: sorteo \| result: success/.test(line));
  const answered = server.lines.findIndex((line) => /action: consulta_ganadores \| result: success \| agencia: 1/.test(line));
  t.true(draw >= 0 && answered > draw, 'agency 1 is answered after the draw');
});

test('a reconnecting agency gets WELCOME with the offset it reached, and resumes from there', async (t) => {
  const { dataDir, server } = await startServer(t, ['--agencies', '2']);
  const bets = [
    bet('Ana', 'Gómez', '111'),
    bet('Beto', 'Núñez', '222'),
    bet('Ceci', 'Pérez', '333'),
    bet('Dora', 'Ibáñez', '444'),
    bet('Eloy', 'Muñoz', '555'),
    bet('Fede', 'Acuña', '666'),
  ];
  const first = await hello(t, server.port, 2);
  t.like(first.welcome, { offset: 0, finished: false, drawn: false });
  first.client.send({ type: 'BETS', offset: 0, bets: bets.slice(0, 3) });
  t.deepEqual(await first.client.receive(), { type: 'ACK', offset: 3 });
  first.client.send({ type: 'BETS', offset: 3, bets: bets.slice(3, 5) });
  t.deepEqual(await first.client.receive(), { type: 'ACK', offset: 5 });
  first.client.destroy();

  const second = await hello(t, server.port, 2);
  t.deepEqual(second.welcome, { type: 'WELCOME', offset: 5, finished: false, drawn: false });
  // A batch sent again after the reconnect is acknowledged where the agency stands, and stored once.
  second.client.send({ type: 'BETS', offset: 0, bets: bets.slice(0, 3) });
  t.deepEqual(await second.client.receive(), { type: 'ACK', offset: 5 });
  second.client.send({ type: 'BETS', offset: 5, bets: bets.slice(5) });
  t.deepEqual(await second.client.receive(), { type: 'ACK', offset: 6 });
  second.client.send({ type: 'FINISH', total: 6, digest: uploadDigestOf(2, bets) });
  t.deepEqual(await second.client.receive(), { type: 'ACK', offset: 6 });
  second.client.destroy();

  const third = await hello(t, server.port, 2);
  t.deepEqual(third.welcome, { type: 'WELCOME', offset: 6, finished: true, drawn: false, total: 6, digest: uploadDigestOf(2, bets) });
  t.deepEqual(
    await storedRows(t, dataDir),
    bets.map((b) => row(2, b)),
  );
});
