import test from 'ava';
import fc from 'fast-check';
import { join } from 'node:path';
import { startAgency, startServer } from '../src/harness/lottery-processes.ts';
import { encodeMessage } from '../src/wire/codec.ts';
import { PROTOCOL_VERSION } from '../src/wire/frame.ts';
import { connectRaw } from './helpers/raw-connection.ts';
import { agencyFiles, sorted, storedRows, tempDir } from './helpers/lottery-fixtures.ts';
import { EMPTY_UPLOAD_DIGEST } from '../src/bets/upload-digest.ts';

/** Sends `bytes` and waits for the server to answer or close; returns what it said, if anything. */
async function probe(port: number, bytes: Uint8Array): Promise<string> {
  const connection = await connectRaw(port);
  connection.sendBytes(bytes);
  // A PING after the bytes: answered only if the bytes left the stream in a state that can still frame it.
  connection.sendBytes(encodeMessage({ type: 'PING' }));
  try {
    const answer = await connection.receive(10_000);
    return answer.type === 'ERROR' ? answer.code : answer.type;
  } catch {
    return 'closed';
  } finally {
    connection.destroy();
  }
}

test('arbitrary bytes never crash a session or the server, and real agencies complete afterwards', async (t) => {
  const { dir, files, rows, winners } = await agencyFiles(t, [
    { count: 150, winnerRows: [0] },
    { count: 150, winnerRows: [149] },
  ]);
  const server = await startServer([
    '--data-dir',
    join(dir, 'server'),
    '--agencies',
    '2',
    '--handshake-timeout',
    '0.5',
    '--idle-timeout',
    '0.5',
  ]);
  t.teardown(() => server.stop());

  const header = (type: number, length: number) => [
    0x4c,
    0x54,
    1,
    type,
    length >>> 24,
    (length >>> 16) & 0xff,
    (length >>> 8) & 0xff,
    length & 0xff,
  ];
  const inputs = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 300 }),
    // Well-framed garbage: a valid header over random payload bytes.
    fc
      .tuple(fc.integer({ min: 1, max: 0x0f }), fc.uint8Array({ maxLength: 200 }))
      .map(([type, payload]) => new Uint8Array([...header(type, payload.length), ...payload])),
    // Lengths up to the largest u32, with no payload behind them.
    fc
      .tuple(fc.integer({ min: 1, max: 0x0f }), fc.integer({ min: 0, max: 0xffffffff }))
      .map(([type, length]) => new Uint8Array(header(type, length))),
  );
  const samples = fc.sample(inputs, { seed: 7, numRuns: 120 });
  const answers = new Map<string, number>();
  for (let i = 0; i < samples.length; i += 20) {
    const batch = await Promise.all(samples.slice(i, i + 20).map((bytes) => probe(server.port, bytes)));
    for (const answer of batch) answers.set(answer, (answers.get(answer) ?? 0) + 1);
  }
  t.log('answers to hostile inputs:', Object.fromEntries(answers));
  t.false(answers.has('INTERNAL'), 'no input reaches an internal error');

  // The server is still whole: no worker died, and agencies do their job.
  t.false(server.lines.some((line) => /action: session_worker \| result: fail/.test(line)));
  const runs = await Promise.all(files.map((file, i) => startAgency(i + 1, server.port, ['--data-file', file]).result));
  runs.forEach((run, i) => {
    t.is(run.code, 0);
    t.deepEqual(sorted(run.winners ?? []), winners[i]);
  });
  t.is(server.child.exitCode, null);
  const stored = await storedRows(t, join(dir, 'server'));
  t.deepEqual(sorted(stored), sorted(rows));
});

test('each hostile input gets its own error code', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--agencies', '2']);
  t.teardown(() => server.stop());
  const cases: Array<[string, Uint8Array | Array<Parameters<typeof encodeMessage>[0]>, string]> = [
    ['an HTTP request', new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'BAD_FRAME'],
    ['a bad version', new Uint8Array([0x4c, 0x54, 9, 0x08, 0, 0, 0, 1, 0x80]), 'BAD_FRAME'],
    ['an unknown type', new Uint8Array([0x4c, 0x54, PROTOCOL_VERSION, 0x7f, 0, 0, 0, 1, 0x80]), 'BAD_FRAME'],
    ['a length over the cap', new Uint8Array([0x4c, 0x54, PROTOCOL_VERSION, 0x03, 0x7f, 0xff, 0xff, 0xff]), 'BAD_FRAME'],
    ['a payload that is not msgpack', new Uint8Array([0x4c, 0x54, PROTOCOL_VERSION, 0x01, 0, 0, 0, 1, 0xc1]), 'BAD_MESSAGE'],
    ['a HELLO of the wrong shape', new Uint8Array([0x4c, 0x54, PROTOCOL_VERSION, 0x01, 0, 0, 0, 1, 0x90]), 'BAD_MESSAGE'],
    ['BETS before HELLO', [{ type: 'BETS', offset: 0, bets: [['a', 'b', '1', '2000-01-01', 1]] }], 'UNEXPECTED_MESSAGE'],
    ['FINISH before HELLO', [{ type: 'FINISH', total: 0, digest: EMPTY_UPLOAD_DIGEST }], 'UNEXPECTED_MESSAGE'],
    ['WINNERS before HELLO', [{ type: 'WINNERS' }], 'UNEXPECTED_MESSAGE'],
    ['an agency id outside 1..N', [{ type: 'HELLO', agency: 3 }], 'UNKNOWN_AGENCY'],
    ['a server message sent by an agency', [{ type: 'ACK', offset: 0 }], 'UNEXPECTED_MESSAGE'],
  ];
  for (const [name, input, code] of cases) {
    const connection = await connectRaw(server.port);
    if (input instanceof Uint8Array) connection.sendBytes(input);
    else for (const message of input) connection.send(message);
    t.like(await connection.receive(), { type: 'ERROR', code }, name);
    await connection.closed;
  }
});

test("bets after an agency's FINISH and after the draw are refused", async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--agencies', '2']);
  t.teardown(() => server.stop());
  const bet = ['Eva', 'Ríos', '77', '1980-01-01', 5] as [string, string, string, string, number];

  const first = await connectRaw(server.port);
  first.send({ type: 'HELLO', agency: 1 });
  await first.receive();
  first.send({ type: 'FINISH', total: 0, digest: EMPTY_UPLOAD_DIGEST });
  t.deepEqual(await first.receive(), { type: 'ACK', offset: 0 });
  first.send({ type: 'BETS', offset: 0, bets: [bet] });
  t.like(await first.receive(), { type: 'ERROR', code: 'AGENCY_FINISHED' });
  await first.closed;

  const second = await connectRaw(server.port);
  second.send({ type: 'HELLO', agency: 2 });
  await second.receive();
  second.send({ type: 'FINISH', total: 0, digest: EMPTY_UPLOAD_DIGEST });
  t.deepEqual(await second.receive(), { type: 'ACK', offset: 0 });
  second.destroy();
  await server.waitForLine(/action: sorteo \| result: success/);

  const late = await connectRaw(server.port);
  late.send({ type: 'HELLO', agency: 2 });
  t.like(await late.receive(), { type: 'WELCOME', finished: true, drawn: true });
  late.send({ type: 'BETS', offset: 0, bets: [bet] });
  t.like(await late.receive(), { type: 'ERROR', code: 'DRAW_DONE' });
  await late.closed;
});
