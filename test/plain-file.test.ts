import test from 'ava';
import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Batcher, type BetsBatch } from '../src/agency/batcher.ts';
import { readBetRows } from '../src/agency/bet-source.ts';
import { plainFileBatches } from '../src/agency/plain-file.ts';
import { todayUtc } from '../src/bets/bet.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { betsOfCanonicalLines, encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { decodeMessage } from '../src/wire/codec.ts';
import { HEADER_SIZE, readHeader } from '../src/wire/frame.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { CsvSyntaxError } from '../src/errors.ts';

// plain-file.ts makes an upload's batches straight from a file's bytes, and
// must make exactly what the general way makes (csv-rows.ts, bet.ts, Batcher,
// encodeCanonicalLines) or decline. Here both read the same files, generated
// and hostile, and are compared byte for byte.

const work = await mkdtemp(join(tmpdir(), 'plain-file-test-'));
test.after.always(() => rm(work, { recursive: true, force: true }));
let files = 0;

type Made = { rows: number; frames: string[]; canonical: string[] };

/** The general way, or undefined when any row is not a valid bet (or the file not CSV): then no upload is prepared. */
async function generalWay(bytes: Buffer, agency: number, maxAmount: number): Promise<Made | undefined> {
  const path = join(work, `file-${files++}.csv`);
  await writeFile(path, bytes);
  const batcher = new Batcher(maxAmount);
  const batches: BetsBatch[] = [];
  let rows = 0;
  try {
    for await (const chunk of readBetRows(path)) {
      for (const row of chunk) {
        if (row.bet === undefined) return undefined;
        rows++;
        const full = batcher.add(row.bet);
        if (full !== undefined) batches.push(full);
      }
    }
  } catch (error) {
    if (error instanceof CsvSyntaxError) return undefined;
    throw error;
  } finally {
    await rm(path, { force: true });
  }
  const last = batcher.flush();
  if (last !== undefined) batches.push(last);
  return {
    rows,
    frames: batches.map((batch) => Buffer.from(batch.frame).toString('hex')),
    canonical: batches.map((batch) => Buffer.from(encodeCanonicalLines(agency, batch.bets as WireBet[])).toString('hex')),
  };
}

function plainWay(bytes: Buffer, agency: number, maxAmount: number): Made | undefined {
  const plain = plainFileBatches(bytes, agency, maxAmount, todayUtc());
  if (plain === undefined) return undefined;
  let next = 0;
  for (const batch of plain.batches) {
    if (batch.offset !== next) throw new Error(`a batch at ${batch.offset}, expected ${next}`);
    next += batch.count;
  }
  if (next !== plain.rows) throw new Error(`batches of ${next} rows in a file of ${plain.rows}`);
  return {
    rows: plain.rows,
    frames: plain.batches.map((batch) => Buffer.from(batch.frame).toString('hex')),
    canonical: plain.batches.map((batch) => Buffer.from(batch.canonical!).toString('hex')),
  };
}

function csvText(bets: readonly WireBet[], ending: string): string {
  return bets.map((bet) => bet.join(',')).join(ending) + ending;
}

test('a generated file is plain, and its batches are the general way’s byte for byte', async (t) => {
  const bets = generateBets({ seed: 11, count: 3000, winnerRows: [5, 700] });
  for (const [ending, maxAmount] of [
    ['\n', 0],
    ['\r\n', 0],
    ['\r\n', 100],
    ['\n', 1],
  ] as const) {
    const bytes = Buffer.from(csvText(bets, ending), 'utf8');
    const plain = plainWay(bytes, 3, maxAmount);
    t.truthy(plain, `a generated file with ${JSON.stringify(ending)} line endings, cap ${maxAmount}, is plain`);
    t.is(plain!.rows, 3000);
    t.deepEqual(plain, await generalWay(bytes, 3, maxAmount));
  }
});

test('the names with accents of the course’s files are plain', async (t) => {
  const text =
    'Tiago Nicolás,Rivera,34407251,2001-08-29,1033\r\nMaría José,Peña Núñez,1,1950-02-28,0042\r\nÀ\u00a0ÿ,Ø,12,2000-02-29,7574\r\n';
  const bytes = Buffer.from(text, 'utf8');
  const plain = plainWay(bytes, 12, 0);
  t.is(plain?.rows, 3);
  t.deepEqual(plain, await generalWay(bytes, 12, 0));
});

test('each frame decodes as the BETS of its bets, and the canonical lines read back as them', (t) => {
  const bets = generateBets({ seed: 5, count: 500 });
  const plain = plainFileBatches(Buffer.from(csvText(bets, '\n')), 7, 0, todayUtc())!;
  let next = 0;
  for (const batch of plain.batches) {
    const { type, length } = readHeader(batch.frame, 0);
    const message = decodeMessage({ type, payload: batch.frame.subarray(HEADER_SIZE, HEADER_SIZE + length) });
    t.deepEqual(message, { type: 'BETS', offset: next, bets: bets.slice(next, next + batch.count) });
    t.deepEqual(betsOfCanonicalLines(batch.canonical!), bets.slice(next, next + batch.count));
    next += batch.count;
  }
  t.is(next, bets.length);
});

test('a BOM, empty lines and a last line without its newline are read as the general way reads them', async (t) => {
  const text = '\ufeffAna,Paz,1,2000-01-01,1\n\n\r\nBea,Sol,2,2000-01-02,2\r\n\nCid,Mar,3,2000-01-03,3';
  const bytes = Buffer.from(text, 'utf8');
  const plain = plainWay(bytes, 1, 0);
  t.is(plain?.rows, 3);
  t.deepEqual(plain, await generalWay(bytes, 1, 0));
});

test('a row the checks refuse, a quoted field or a name in another script leaves the file to the general way', (t) => {
  const good = 'Ana,Paz,1,2000-01-01,1';
  const today = todayUtc();
  for (const row of [
    '"Ana",Paz,1,2000-01-01,1',
    'Ana,Paz,1,2000-01-01',
    'Ana,Paz,1,2000-01-01,1,',
    ',Paz,1,2000-01-01,1',
    ' ,Paz,1,2000-01-01,1',
    '=Ana,Paz,1,2000-01-01,1',
    ' -Ana,Paz,1,2000-01-01,1',
    'Ana,@Paz,1,2000-01-01,1',
    `${'a'.repeat(51)},Paz,1,2000-01-01,1`,
    'Ana\u00ad,Paz,1,2000-01-01,1',
    'Ana\u0085,Paz,1,2000-01-01,1',
    'Ana\u007f,Paz,1,2000-01-01,1',
    'Ana\tB,Paz,1,2000-01-01,1',
    'Ωmega,Paz,1,2000-01-01,1',
    '\ufeffAna,Paz,1,2000-01-01,1',
    'Ana\rB,Paz,1,2000-01-01,1',
    'Ana,Paz,,2000-01-01,1',
    'Ana,Paz,12345678901234567,2000-01-01,1',
    'Ana,Paz,1a,2000-01-01,1',
    'Ana,Paz,1,2000-02-30,1',
    'Ana,Paz,1,1900-02-29,1',
    'Ana,Paz,1,0000-01-01,1',
    'Ana,Paz,1,2000-1-01,1',
    'Ana,Paz,1,2000-13-01,1',
    `Ana,Paz,1,${Number(today.slice(0, 4)) + 1}${today.slice(4)},1`,
    'Ana,Paz,1,2000-01-01,10000',
    'Ana,Paz,1,2000-01-01,-1',
    'Ana,Paz,1,2000-01-01,',
    '   ',
  ]) {
    t.is(plainFileBatches(Buffer.from(`${good}\n${row}\n${good}\n`, 'utf8'), 1, 0, today), undefined, JSON.stringify(row));
  }
  // Latin-1 bytes are not UTF-8: é as the single byte 0xe9.
  t.is(plainFileBatches(Buffer.from(`${good}\nJos\xe9,Paz,1,2000-01-01,1\n`, 'latin1'), 1, 0, today), undefined);
  t.truthy(plainFileBatches(Buffer.from(`${good}\n${good}\n`, 'utf8'), 1, 0, today));
});

// Fields from the edges of every check, in rows of four to six fields.
const names = [
  'Ana',
  ' Ana',
  'Ana ',
  '\u00a0Ana',
  'José',
  'Peña Núñez',
  'a'.repeat(31),
  'a'.repeat(32),
  'é'.repeat(16),
  'a'.repeat(50),
  'a'.repeat(51),
  'é'.repeat(50),
  '=x',
  ' +x',
  'x=',
  '-',
  '@x',
  '',
  ' ',
  '\u00a0',
  '\u00ad',
  'a\u00adb',
  '\u0080',
  'Ω',
  'a"b',
  '\ufeffx',
  '\u00ff\u00c0',
];
const documents = ['1', '0', '007', '1234567890123456', '12345678901234567', '12a', '', ' 1'];
const dates = [
  '2000-02-29',
  '1900-02-29',
  '2001-02-29',
  '0000-01-01',
  '0001-01-01',
  '2999-01-01',
  '2000-13-01',
  '2000-1-01',
  todayUtc(),
  '1999-12-31',
];
const numbers = ['0', '7', '127', '128', '255', '256', '7574', '9999', '0042', '10000', '', '1.5', '-1', ' 1'];
const row = fc
  .tuple(
    fc.constantFrom(...names),
    fc.constantFrom(...names),
    fc.constantFrom(...documents),
    fc.constantFrom(...dates),
    fc.constantFrom(...numbers),
  )
  .chain((fields) => fc.constantFrom(fields.join(','), fields.slice(0, 4).join(','), `${fields.join(',')},x`));
const validRow = fc
  .tuple(
    fc.constantFrom('Ana', 'José', 'a'.repeat(40), 'é'.repeat(20)),
    fc.constantFrom('Paz', 'Núñez'),
    fc.constantFrom('1', '1234567890123456'),
    fc.constantFrom('2000-02-29', '1999-12-31'),
    fc.constantFrom('0', '128', '7574', '0042'),
  )
  .map((fields) => fields.join(','));

test('whatever rows a file holds, the plain way makes what the general way makes, or declines', async (t) => {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof({ weight: 4, arbitrary: validRow }, { weight: 1, arbitrary: row }, { weight: 1, arbitrary: fc.constant('') }), {
        maxLength: 60,
      }),
      fc.constantFrom('\n', '\r\n'),
      fc.boolean(),
      fc.boolean(),
      fc.constantFrom(0, 1, 3),
      async (rows, ending, bom, lastEnding, maxAmount) => {
        const text = (bom ? '\ufeff' : '') + rows.join(ending) + (lastEnding ? ending : '');
        const bytes = Buffer.from(text, 'utf8');
        const plain = plainWay(bytes, 42, maxAmount);
        if (plain === undefined) return;
        accepted++;
        t.deepEqual(plain, await generalWay(bytes, 42, maxAmount));
      },
    ),
    { numRuns: 300 },
  );
  // Files of valid rows are common among those generated: the comparison ran on many.
  t.true(accepted >= 50, `only ${accepted} of 300 files were plain`);
});
