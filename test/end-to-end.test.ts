// The real lottery-server and lottery-agency programs against each other on
// 127.0.0.1: what the agencies' files hold is what bets.csv ends up holding,
// batches are cut as configured, and every agency gets exactly its winners.
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgency, startServer, type RunningServer } from '../src/harness/lottery-processes.ts';
import { packValue } from '../src/wire/codec.ts';
import { HEADER_SIZE, MAX_FRAME_SIZE } from '../src/wire/frame.ts';
import {
  agencyFor,
  GUARD_MS,
  serverFor,
  sorted,
  storedBatches,
  storedRows,
  tempDir,
  within,
  writeAgencies,
  type AgencyInput,
  type AgencySpec,
} from './helpers/lottery-fixtures.ts';
import { csvRecords } from './helpers/csv-records.ts';

/** Runs one server and one agency per spec entry, all at once; returns what they did. */
async function runLottery(t: ExecutionContext, spec: readonly AgencySpec[], agencyArgs: string[] = [], seed = 1) {
  const dir = await tempDir(t);
  const inputs = await writeAgencies(dir, spec, seed);
  const dataDir = join(dir, 'server');
  const server = await serverFor(t, dataDir, ['--agencies', String(spec.length)]);
  const agencies = inputs.map((input) => agencyFor(t, input.id, server.port, ['--data-file', input.file, ...agencyArgs]));
  const runs = await Promise.all(agencies.map((agency) => agency.result));
  return { dir, dataDir, server, inputs, runs };
}

/** Every agency exited 0 and logged exactly the winners placed in its file. */
function assertWinners(t: ExecutionContext, runs: Awaited<ReturnType<typeof runLottery>>['runs'], expected: string[][]) {
  runs.forEach((run, i) => {
    t.is(run.code, 0, `agency ${i + 1} exits 0:\n${run.lines.slice(-5).join('\n')}`);
    t.deepEqual(
      sorted(run.winners ?? ['(no ganadores line)']),
      expected[i],
      `agency ${i + 1} logs exactly its winners:\n${run.lines.slice(-8).join('\n')}`,
    );
  });
}

// Uploads of one agency each, independent of one another: they share one
// server, each as an agency of its own, all started together before the
// tests (so that any one of them can run alone), and the draw comes once all
// have finished. Each test checks only its own agency's rows, batches and
// winners. Agency 1's file is the one such a test had alone on its server.
type SoloUpload = { title: string; count: number; winnerRows: number[]; maxAmount: number; batches: number[]; accented?: true };

const soloUploads: SoloUpload[] = [
  ...(
    [
      [64, [0, 63], [64]],
      [99, [17, 50, 98], [64, 35]],
    ] as const
  ).map(([count, winnerRows, batches]) => ({
    title: `one agency with ${count} bets stores every row as it is in the file and gets the winners placed in it`,
    count,
    winnerRows: [...winnerRows],
    maxAmount: 64,
    batches: [...batches],
    accented: true as const,
  })),
  ...(
    [
      [16, 64, [16]],
      [21, 8, [8, 8, 5]],
      [24, 8, [8, 8, 8]],
      [1, 8, [1]],
    ] as const
  ).map(([count, maxAmount, batches]) => {
    const shape = batches.length === 1 ? `one batch of ${batches[0]}` : `batches of ${batches.join(', ')}`;
    const what = count === 1 ? 'a single bet is' : `${count} bets are`;
    return {
      title: `with --batch-max-amount ${maxAmount}, ${what} sent as ${shape}`,
      count,
      winnerRows: [0],
      maxAmount,
      batches: [...batches],
    };
  }),
];

// Two more agencies of that lottery, each with a test of its own below: one
// of 1500 bets sent with no amount cap, and one with a course-like file.
const uncapped = { id: soloUploads.length + 1, count: 1500, winnerRows: [0, 749, 1499] };
const courseLike = {
  id: soloUploads.length + 2,
  lines: [
    '\uFEFF"Pérez, Juan Martín",Gómez,30904465,1999-03-17,7574',
    'María José,"Núñez, del Valle",25123987,1985-11-02,1234',
    '"Ana ""la Negra""",O\'Connor,41222333,2001-01-31,7574',
    'Zoë,"Ibáñez, Saldaña",12345678,1970-02-28,0',
    '"Joaquín",Acuña,87654321,1960-06-15,9999',
  ],
};

let soloLottery:
  { dir: string; dataDir: string; server: RunningServer; inputs: AgencyInput[]; agencies: ReturnType<typeof startAgency>[] } | undefined;
test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-it-'));
  const inputs = await writeAgencies(dir, [...soloUploads, uncapped]);
  const courseFile = join(dir, `agency-${courseLike.id}.csv`);
  await writeFile(courseFile, courseLike.lines.map((line) => `${line}\r\n`).join(''), 'utf8');
  const dataDir = join(dir, 'server');
  const server = await startServer(['--data-dir', dataDir, '--agencies', String(courseLike.id)], { startTimeoutMs: GUARD_MS });
  const agencies = inputs.map((input, i) =>
    startAgency(input.id, server.port, [
      '--data-file',
      input.file,
      ...(i < soloUploads.length ? ['--batch-max-amount', String(soloUploads[i].maxAmount)] : []),
    ]),
  );
  agencies.push(startAgency(courseLike.id, server.port, ['--data-file', courseFile]));
  soloLottery = { dir, dataDir, server, inputs, agencies };
});
test.after.always(async () => {
  if (soloLottery === undefined) return;
  for (const agency of soloLottery.agencies) if (agency.child.exitCode === null) agency.child.kill('SIGKILL');
  await soloLottery.server.stop();
  await rm(soloLottery.dir, { recursive: true, force: true });
});

for (const [i, upload] of soloUploads.entries()) {
  test(upload.title, async (t) => {
    const { dataDir, server, inputs, agencies } = soloLottery!;
    const input = inputs[i];
    const run = await within(agencies[i].result, `agency ${input.id}`);
    assertWinners(t, [run], [input.winners]);
    t.is(input.winners.length, upload.winnerRows.length);
    const stored = (await storedRows(t, dataDir)).filter((row) => row.startsWith(`${input.id},`));
    t.deepEqual(sorted(stored), sorted(input.rows));
    if (upload.accented)
      t.true(
        stored.some((row) => /[áéíóúñÑüë]/.test(row)),
        'the data has accented names, and they are stored intact',
      );
    t.deepEqual(storedBatches(server.lines, input.id), upload.batches);
    t.true(server.lines.some((line) => /action: sorteo \| result: success \| cant_ganadores: /.test(line)));
  });
}

test('with no amount cap, every batch fits an 8 KiB frame and only the last one is short', async (t) => {
  const { dataDir, server, inputs: soloInputs, agencies } = soloLottery!;
  const inputs = [soloInputs[uncapped.id - 1]];
  const runs = [await within(agencies[uncapped.id - 1].result, `agency ${uncapped.id}`)];
  assertWinners(t, runs, [inputs[0].winners]);
  const batches = storedBatches(server.lines, uncapped.id);
  t.is(
    batches.reduce((sum, n) => sum + n, 0),
    1500,
  );
  t.true(batches.length > 1, 'the bets need several frames');
  const { bets } = inputs[0];
  // The size of a BETS frame, counted without encodeMessage, which refuses an oversized one.
  const frameSize = (offset: number, batch: unknown[]) => HEADER_SIZE + packValue({ offset, bets: batch }).length;
  let offset = 0;
  for (const [i, amount] of batches.entries()) {
    const batch = bets.slice(offset, offset + amount);
    const size = frameSize(offset, batch);
    t.true(size <= MAX_FRAME_SIZE, `batch ${i} is a frame of ${size} bytes`);
    if (i < batches.length - 1) {
      // Full: one more bet would not fit, allowing for the Batcher's fixed 25-byte envelope estimate.
      const withNext = frameSize(offset, [...batch, bets[offset + amount]]);
      t.true(withNext > MAX_FRAME_SIZE - 25, `batch ${i} (${amount} bets, ${size} bytes) is full`);
    }
    offset += amount;
  }
  const stored = (await storedRows(t, dataDir)).filter((row) => row.startsWith(`${uncapped.id},`));
  t.deepEqual(sorted(stored), sorted(inputs[0].rows));
});

test('three agencies with winners at rows [0, 99], [50] and none each log exactly their own documents', async (t) => {
  const { dataDir, inputs, runs } = await runLottery(t, [
    { count: 100, winnerRows: [0, 99] },
    { count: 100, winnerRows: [50] },
    { count: 100, winnerRows: [] },
  ]);
  t.deepEqual(
    inputs.map((input) => input.winners.length),
    [2, 1, 0],
  );
  assertWinners(
    t,
    runs,
    inputs.map((input) => input.winners),
  );
  t.deepEqual(
    runs.map((run) => run.winners?.length),
    [2, 1, 0],
  );
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted(inputs.flatMap((input) => input.rows)));
});

test('five agencies of 60 bets where agency k placed k winners each get their k documents', async (t) => {
  const spec = Array.from({ length: 5 }, (_, i) => ({ count: 60, winnerRows: Array.from({ length: i + 1 }, (_, j) => j * 13 + i) }));
  const { dataDir, server, inputs, runs } = await runLottery(t, spec, ['--batch-max-amount', '7']);
  assertWinners(
    t,
    runs,
    inputs.map((input) => input.winners),
  );
  t.deepEqual(
    runs.map((run) => run.winners?.length),
    [1, 2, 3, 4, 5],
  );
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted(inputs.flatMap((input) => input.rows)));
  t.is(
    server.lines.filter((line) => /action: sorteo \| result: success \| cant_ganadores: 15 \| digest: [0-9a-f]{64}$/.test(line)).length,
    1,
    'one draw, 15 winners, with the digest of the bets drawn',
  );
});

test('eight agencies uploading in parallel all finish, and bets.csv holds every row exactly once', async (t) => {
  const spec = Array.from({ length: 8 }, (_, i) => ({ count: 200 + 37 * i, winnerRows: i % 3 === 0 ? [] : [i, 100 + i, 199] }));
  const { dataDir, server, inputs, runs } = await runLottery(t, spec, ['--batch-max-amount', '16']);
  assertWinners(
    t,
    runs,
    inputs.map((input) => input.winners),
  );
  const stored = await storedRows(t, dataDir);
  const expected = inputs.flatMap((input) => input.rows);
  t.is(stored.length, expected.length);
  t.is(new Set(stored).size, stored.length, 'no row is stored twice');
  t.deepEqual(sorted(stored), sorted(expected));
  for (const input of inputs) {
    t.is(
      storedBatches(server.lines, input.id).reduce((sum, n) => sum + n, 0),
      input.bets.length,
      `agency ${input.id}'s batches add up`,
    );
  }
});

test('a course-like file with CRLF, a UTF-8 BOM and quoted names with commas is stored with its values intact', async (t) => {
  const id = String(courseLike.id);
  const expected = [
    [id, 'Pérez, Juan Martín', 'Gómez', '30904465', '1999-03-17', '7574'],
    [id, 'María José', 'Núñez, del Valle', '25123987', '1985-11-02', '1234'],
    [id, 'Ana "la Negra"', "O'Connor", '41222333', '2001-01-31', '7574'],
    [id, 'Zoë', 'Ibáñez, Saldaña', '12345678', '1970-02-28', '0'],
    [id, 'Joaquín', 'Acuña', '87654321', '1960-06-15', '9999'],
  ];
  const { dataDir, agencies } = soloLottery!;
  const run = await within(agencies[courseLike.id - 1].result, `agency ${id}`);
  t.is(run.code, 0, run.lines.join('\n'));
  t.false(
    run.lines.some((line) => /result: fail/.test(line)),
    'no row of the file is refused',
  );
  t.deepEqual(sorted(run.winners ?? []), ['30904465', '41222333']);

  // The whole of bets.csv, the other agencies' rows too: none has a BOM or a CR.
  const text = await readFile(join(dataDir, 'bets.csv'), 'utf8');
  t.false(text.includes('\uFEFF'), 'the BOM is not stored');
  t.false(text.includes('\r'), 'bets.csv has LF line endings');
  t.true(text.split('\n').includes(`${id},"Pérez, Juan Martín",Gómez,30904465,1999-03-17,7574`), 'a name with a comma is quoted');
  const parsed = (await csvRecords(text)).filter((row) => row[0] === id);
  const key = (row: string[]) => row.join('\u0000');
  t.deepEqual(parsed.map(key).sort(), expected.map(key).sort());
});
