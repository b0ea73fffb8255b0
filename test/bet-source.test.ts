import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBets, type BadRow, type BetSourceOptions } from '../src/agency/bet-source.ts';
import { generateBets, writeAgencyFile } from '../src/bets/bet-generator.ts';
import type { WireBet } from '../src/wire/messages.ts';

async function tempFile(t: ExecutionContext, content: string | Uint8Array): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-bet-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'agency.csv');
  await writeFile(path, content);
  return path;
}

async function readAll(path: string, options: BetSourceOptions = {}): Promise<{ bets: WireBet[]; bad: BadRow[] }> {
  const bets: WireBet[] = [];
  const bad: BadRow[] = [];
  for await (const bet of readBets(path, { ...options, onBadRow: (row) => bad.push(row) })) bets.push(bet);
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
  const content = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Ana,Paz,111,1990-01-01,7574\r\nLuis,Gómez,222,1991-02-02,12\r\n')]);
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

test('bad rows are reported with their line number and skipped; valid bets keep their order', async (t) => {
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
    const content = ['"Ana', 'María",Paz,111,1990-01-01,7574', 'Luis,Gómez,222,1991-02-02,12', 'bad', 'Eva,Ríos,333,1992-03-03,0', ''].join(eol);
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

test('bad rows are skipped silently when nobody listens', async (t) => {
  const path = await tempFile(t, 'Ana,Paz,111,1990-01-01,7574\nbad row\nLuis,Gómez,222,1991-02-02,12\n');
  const bets: WireBet[] = [];
  for await (const bet of readBets(path)) bets.push(bet);
  t.deepEqual(bets, [ana, luis]);
});

test('a birthdate in the future is a bad row', async (t) => {
  const read = await readAll(await tempFile(t, 'Ana,Paz,111,1990-01-01,7574\nFut,Ure,1,2999-01-01,1\n'));
  t.deepEqual(read.bets, [ana]);
  t.deepEqual(
    read.bad.map((row) => row.line),
    [2],
  );
});

test('skip passes over the first N valid bets, not rows', async (t) => {
  const content = ['bad', 'Ana,Paz,111,1990-01-01,7574', 'also,bad', 'Luis,Gómez,222,1991-02-02,12', 'Eva,Ríos,333,1992-03-03,0'].join('\n');
  const path = await tempFile(t, content);
  t.deepEqual((await readAll(path, { skip: 0 })).bets, [ana, luis, eva]);
  t.deepEqual((await readAll(path, { skip: 1 })).bets, [luis, eva]);
  t.deepEqual((await readAll(path, { skip: 2 })).bets, [eva]);
  t.deepEqual((await readAll(path, { skip: 3 })).bets, []);
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

test('onProgress is told the bytes read, up to the file size', async (t) => {
  const content = 'Ana,Paz,111,1990-01-01,7574\nLuis,Gómez,222,1991-02-02,12\n';
  const path = await tempFile(t, content);
  const seen: number[] = [];
  for await (const _ of readBets(path, { onProgress: (bytes) => seen.push(bytes) }));
  t.true(seen.length > 0);
  t.is(seen.at(-1), Buffer.byteLength(content));
});
