import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDataFile, fieldsAsSent, readBetRows, type BetRow, type BetSourceOptions } from '../src/agency/bet-source.ts';
import { generateBets, writeAgencyFile } from '../src/bets/bet-generator.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { CsvSyntaxError, DataFileError } from '../src/errors.ts';

async function tempFile(t: ExecutionContext, content: string | Uint8Array): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-bet-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'agency.csv');
  await writeFile(path, content);
  return path;
}

type BadRow = { line: number; reason: string };

async function rowsOf(path: string, options: BetSourceOptions = {}): Promise<BetRow[]> {
  const rows: BetRow[] = [];
  for await (const chunk of readBetRows(path, options)) rows.push(...chunk);
  return rows;
}

/** The bets the agency takes for valid and the rows it refuses, each checked to have the next offset. */
async function readAll(path: string, options: BetSourceOptions = {}): Promise<{ bets: WireBet[]; bad: BadRow[] }> {
  const bets: WireBet[] = [];
  const bad: BadRow[] = [];
  let offset = options.skip ?? 0;
  for (const row of await rowsOf(path, options)) {
    if (row.offset !== offset++) throw new Error(`row at line ${row.line} has offset ${row.offset}, expected ${offset - 1}`);
    if (row.bet !== undefined) bets.push(row.bet);
    else bad.push({ line: row.line, reason: row.invalid });
  }
  return { bets, bad };
}

const ana: WireBet = ['Ana', 'Paz', '111', '1990-01-01', 7574];
const luis: WireBet = ['Luis', 'Gómez', '222', '1991-02-02', 12];
const eva: WireBet = ['Eva', 'Ríos', '333', '1992-03-03', 0];

test('reads every bet of a file in order', async (t) => {
  const bets = generateBets({ seed: 21, count: 3000, winnerRows: [5, 2999] });
  const dir = await mkdtemp(join(tmpdir(), 'lottery-bet-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'agency-1.csv');
  await writeAgencyFile(path, bets);
  const read = await readAll(path);
  t.deepEqual(read.bad, []);
  t.deepEqual(read.bets, bets);
});

test('CRLF and LF files give the same bets', async (t) => {
  const rows = ['Ana,Paz,111,1990-01-01,7574', 'Luis,Gómez,222,1991-02-02,12', 'Eva,Ríos,333,1992-03-03,0'];
  const lf = await readAll(await tempFile(t, rows.join('\n') + '\n'));
  const crlf = await readAll(await tempFile(t, rows.join('\r\n') + '\r\n'));
  const noFinalNewline = await readAll(await tempFile(t, rows.join('\r\n')));
  t.deepEqual(lf.bets, [ana, luis, eva]);
  t.deepEqual(crlf, lf);
  t.deepEqual(noFinalNewline, lf);
});

test('a UTF-8 BOM at the start is stripped', async (t) => {
  const content = Buffer.concat([
    Buffer.from([0xef, 0xbb, 0xbf]),
    Buffer.from('Ana,Paz,111,1990-01-01,7574\r\nLuis,Gómez,222,1991-02-02,12\r\n'),
  ]);
  const read = await readAll(await tempFile(t, content));
  t.deepEqual(read.bad, []);
  t.deepEqual(read.bets, [ana, luis]);
});

test('a BOM before a quoted first field is stripped too', async (t) => {
  const read = await readAll(await tempFile(t, '\uFEFFAna,Paz,111,1990-01-01,7574\n'));
  t.is(read.bets[0][0], 'Ana');
});

test('quoted fields may hold commas and doubled quotes', async (t) => {
  const content = '"Juan, Jr.","Gómez ""la Tana""",444,1980-04-04,99\r\n"Ana",Paz,111,1990-01-01,7574\r\n';
  const read = await readAll(await tempFile(t, content));
  t.deepEqual(read.bad, []);
  t.deepEqual(read.bets, [['Juan, Jr.', 'Gómez "la Tana"', '444', '1980-04-04', 99], ana]);
});

test('files written by writeAgencyFile with odd names read back exactly', async (t) => {
  const bets: WireBet[] = [
    ['Juan, Jr.', 'Gómez "la Tana"', '444', '1980-04-04', 99],
    ["O'Connor", 'Zoë', '5', '2000-02-29', 7574],
    [' spaced ', 'ñ'.repeat(50), '6', '1970-01-01', 9999],
  ];
  for (const ending of ['\n', '\r\n'] as const) {
    const dir = await mkdtemp(join(tmpdir(), 'lottery-bet-source-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'agency.csv');
    await writeAgencyFile(path, bets, ending);
    t.deepEqual((await readAll(path)).bets, bets);
  }
});

test('bad rows are reported with their line number; valid bets keep their order', async (t) => {
  const content = [
    'Ana,Paz,111,1990-01-01,7574', // 1
    'Bad,Date,999,2001-02-29,1', // 2: not a real date
    'Luis,Gómez,222,1991-02-02,12', // 3
    'Too,Few,fields,1990-01-01', // 4
    ',Empty,998,1990-01-01,1', // 5: empty first name
    'Num,Big,997,1990-01-01,10000', // 6
    'Doc,Letters,12a,1990-01-01,1', // 7
    'Eva,Ríos,333,1992-03-03,0', // 8
    'Too,Many,996,1990-01-01,1,extra', // 9
  ].join('\r\n');
  const read = await readAll(await tempFile(t, content + '\r\n'));
  t.deepEqual(read.bets, [ana, luis, eva]);
  t.deepEqual(
    read.bad.map((row) => row.line),
    [2, 4, 5, 6, 7, 9],
  );
  t.regex(read.bad[0].reason, /birthdate/);
  t.regex(read.bad[1].reason, /fields/);
  t.regex(read.bad[2].reason, /first_name/);
  t.regex(read.bad[3].reason, /number/);
  t.regex(read.bad[4].reason, /document/);
});

test('blank lines in the middle are skipped and still counted as lines', async (t) => {
  const read = await readAll(await tempFile(t, 'Ana,Paz,111,1990-01-01,7574\n\n\nbad\nLuis,Gómez,222,1991-02-02,12\n'));
  t.deepEqual(read.bets, [ana, luis]);
  t.deepEqual(
    read.bad.map((row) => row.line),
    [4],
  );
});

test('a quoted field that spans lines is a bad row, and later rows keep their true line numbers', async (t) => {
  for (const eol of ['\n', '\r\n']) {
    const content = ['"Ana', 'María",Paz,111,1990-01-01,7574', 'Luis,Gómez,222,1991-02-02,12', 'bad', 'Eva,Ríos,333,1992-03-03,0', ''].join(
      eol,
    );
    const read = await readAll(await tempFile(t, content));
    t.deepEqual(read.bets, [luis, eva], JSON.stringify(eol));
    t.deepEqual(
      read.bad.map((row) => row.line),
      [1, 4],
      JSON.stringify(eol),
    );
    t.regex(read.bad[0].reason, /first_name/);
  }
});

test('every row has an offset, numbered in file order whatever the agency thinks of it; empty lines have none', async (t) => {
  const path = await tempFile(t, 'Ana,Paz,111,1990-01-01,7574\n\nbad row\nLuis,Gómez,222,1991-02-02,12\nFut,Ure,1,2999-01-01,1\n');
  const rows = await rowsOf(path);
  t.deepEqual(
    rows.map((row) => [row.offset, row.line, row.bet !== undefined]),
    [
      [0, 1, true],
      [1, 3, false],
      [2, 4, true],
      [3, 5, false],
    ],
  );
  t.deepEqual(rows[1].fields, ['bad row']);
});

test('a birthdate in the future is a bad row, and still has its offset', async (t) => {
  const read = await readAll(await tempFile(t, 'Ana,Paz,111,1990-01-01,7574\nFut,Ure,1,2999-01-01,1\n'));
  t.deepEqual(read.bets, [ana]);
  t.deepEqual(
    read.bad.map((row) => row.line),
    [2],
  );
});

test('skip passes over the first N rows, valid or not: offsets depend on the file alone', async (t) => {
  const content = ['bad', 'Ana,Paz,111,1990-01-01,7574', 'also,bad', 'Luis,Gómez,222,1991-02-02,12', 'Eva,Ríos,333,1992-03-03,0'].join(
    '\n',
  );
  const path = await tempFile(t, content);
  t.deepEqual((await readAll(path, { skip: 0 })).bets, [ana, luis, eva]);
  t.deepEqual((await readAll(path, { skip: 1 })).bets, [ana, luis, eva]);
  t.deepEqual(await readAll(path, { skip: 2 }), { bets: [luis, eva], bad: [{ line: 3, reason: (await readAll(path)).bad[1].reason }] });
  t.deepEqual((await readAll(path, { skip: 3 })).bets, [luis, eva]);
  t.deepEqual((await readAll(path, { skip: 4 })).bets, [eva]);
  t.deepEqual((await readAll(path, { skip: 5 })).bets, []);
  t.deepEqual((await readAll(path, { skip: 10 })).bets, []);
});

test('skip on a large file resumes at the exact bet', async (t) => {
  const bets = generateBets({ seed: 22, count: 2000 });
  const dir = await mkdtemp(join(tmpdir(), 'lottery-bet-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'agency.csv');
  await writeAgencyFile(path, bets);
  t.deepEqual((await readAll(path, { skip: 1234 })).bets, bets.slice(1234));
});

test('a blank last line is not a bad row', async (t) => {
  for (const content of ['Ana,Paz,111,1990-01-01,7574\n\n', 'Ana,Paz,111,1990-01-01,7574\r\n\r\n', 'Ana,Paz,111,1990-01-01,7574\n']) {
    const read = await readAll(await tempFile(t, content));
    t.deepEqual(read.bad, [], JSON.stringify(content));
    t.deepEqual(read.bets, [ana]);
  }
});

test('an empty file has no bets and no bad rows', async (t) => {
  t.deepEqual(await readAll(await tempFile(t, '')), { bets: [], bad: [] });
});

test('a missing file rejects', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-bet-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.throwsAsync(readAll(join(dir, 'nope.csv')), { code: 'ENOENT' });
});

test('checkDataFile says in one line why a bets file cannot be read: missing, a directory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-bet-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.throwsAsync(checkDataFile(join(dir, 'nope.csv')), {
    instanceOf: DataFileError,
    message: `the bets file ${join(dir, 'nope.csv')} does not exist`,
  });
  await t.throwsAsync(checkDataFile(dir), { instanceOf: DataFileError, message: `the bets file ${dir} is a directory` });
  await t.notThrowsAsync(checkDataFile(await tempFile(t, '')));
});

test('an unclosed quote ends the rows with an error naming its line, after every row before it', async (t) => {
  const good = generateBets({ seed: 23, count: 3000 });
  const lines = good.map((bet) => bet.join(','));
  lines.splice(2500, 0, 'Ana,"Paz,111,1990-01-01,7574');
  const path = await tempFile(t, lines.join('\r\n') + '\r\n');
  const rows: BetRow[] = [];
  const error = await t.throwsAsync(
    async () => {
      for await (const chunk of readBetRows(path)) rows.push(...chunk);
    },
    { instanceOf: CsvSyntaxError },
  );
  t.is(error?.line, 2501);
  t.regex(error!.message, /^line 2501: missing closing: '"'$/);
  t.deepEqual(
    rows.map((row) => row.bet),
    good.slice(0, 2500),
  );
});

test('a refused row is sent as read, cut so that it always fits a frame and never becomes valid', (t) => {
  t.deepEqual(fieldsAsSent(['Ana', 'Paz', '111', '2999-01-01', '7574']), ['Ana', 'Paz', '111', '2999-01-01', 7574]);
  t.deepEqual(fieldsAsSent(['a', 'b', 'c', 'd', 'x12', 'f', 'g']), ['a', 'b', 'c', 'd', 'x12', 'f']);
  t.deepEqual(fieldsAsSent(['x'.repeat(10_000)]), ['x'.repeat(200)]);
  t.deepEqual(fieldsAsSent(['a', 'b', 'c', 'd', '1234567890']), ['a', 'b', 'c', 'd', '1234567890']);
});

test('onProgress is told the bytes read, up to the file size', async (t) => {
  const content = 'Ana,Paz,111,1990-01-01,7574\nLuis,Gómez,222,1991-02-02,12\n';
  const path = await tempFile(t, content);
  const seen: number[] = [];
  for await (const _ of readBetRows(path, { onProgress: (bytes) => seen.push(bytes) }));
  t.true(seen.length > 0);
  t.is(seen.at(-1), Buffer.byteLength(content));
});
