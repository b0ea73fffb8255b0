import test from 'ava';
import fc from 'fast-check';
import { parseString } from 'fast-csv';
import { validateBet, WINNING_NUMBER } from '../src/bets/bet.ts';
import { generateBets, seededRandom } from '../src/bets/bet-generator.ts';
import { csvField, encodeBetRows, formatBetRow } from '../src/bets/bets-csv.ts';
import type { WireBet } from '../src/wire/messages.ts';

const isWinner = (bet: WireBet) => bet[4] === WINNING_NUMBER;

/** Parses CSV text the way any reader of bets.csv would: with fast-csv. */
function parseCsv(text: string): Promise<string[][]> {
  return new Promise((resolve, reject) => {
    const rows: string[][] = [];
    parseString(text, { headers: false })
      .on('error', reject)
      .on('data', (row: string[]) => rows.push(row))
      .on('end', () => resolve(rows));
  });
}

const asRow = (agency: number, bet: WireBet) => [String(agency), bet[0], bet[1], bet[2], bet[3], String(bet[4])];

test('formatBetRow leaves plain names unquoted', (t) => {
  t.is(formatBetRow(3, ['Santiago Lionel', 'Lorca', '30904465', '1999-03-17', 7574]), '3,Santiago Lionel,Lorca,30904465,1999-03-17,7574\n');
  // Accents, apostrophes and spaces need no quotes.
  t.is(formatBetRow(1, ['María José', "O'Connor", '1', '2000-02-29', 0]), "1,María José,O'Connor,1,2000-02-29,0\n");
});

test('formatBetRow quotes only the names that hold a comma or a double quote', (t) => {
  t.is(formatBetRow(2, ['Juan, Jr.', 'Paz', '1', '2000-01-01', 5]), '2,"Juan, Jr.",Paz,1,2000-01-01,5\n');
  t.is(formatBetRow(2, ['Ana', 'Gómez "la Tana"', '1', '2000-01-01', 5]), '2,Ana,"Gómez ""la Tana""",1,2000-01-01,5\n');
  t.is(formatBetRow(2, ['"', ',', '1', '2000-01-01', 5]), '2,"""",",",1,2000-01-01,5\n');
});

test('csvField quotes only fields that need it', (t) => {
  t.is(csvField('plain'), 'plain');
  t.is(csvField(' spaced '), ' spaced ');
  t.is(csvField("O'Connor"), "O'Connor");
  t.is(csvField('a,b'), '"a,b"');
  t.is(csvField('say "hi"'), '"say ""hi"""');
  t.is(csvField('two\nlines'), '"two\nlines"');
});

test('fast-csv reads encodeBetRows output back to the exact values', async (t) => {
  const bets: WireBet[] = [
    ['María José', 'Núñez', '30904465', '1999-03-17', 7574],
    ['Juan, Jr.', 'Pérez, de la Torre', '1', '2000-02-29', 0],
    ['Ana "Anita"', '"', '1234567890123456', '1940-01-01', 9999],
    ["O'Connor", 'Zoë', '42', '2000-01-01', 12],
    [' leading', 'trailing ', '7', '2000-01-01', 1],
    ['😀 emoji', 'ñ'.repeat(50), '8', '2000-01-01', 2],
  ];
  const text = Buffer.from(encodeBetRows(4, bets)).toString('utf8');
  t.deepEqual(
    await parseCsv(text),
    bets.map((bet) => asRow(4, bet)),
  );
});

test('fast-csv reads back any valid bets exactly', async (t) => {
  const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((s) => {
    try {
      return validateBet([s, s, '1', '2000-01-01', 1], '2026-01-01') !== undefined;
    } catch {
      return false;
    }
  });
  const spicy = fc.oneof(name, fc.constantFrom('"', ',', '","', '""', 'a,"b"', ' , ', "O'Connor", 'Núñez'));
  const bet: fc.Arbitrary<WireBet> = fc.tuple(
    spicy,
    spicy,
    fc.stringMatching(/^[0-9]{1,16}$/),
    fc.constant('2000-01-01'),
    fc.integer({ min: 0, max: 9999 }),
  );
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 99 }), fc.array(bet, { minLength: 1, maxLength: 30 }), async (agency, bets) => {
      for (const b of bets) validateBet(b, '2026-01-01');
      const parsed = await parseCsv(Buffer.from(encodeBetRows(agency, bets)).toString('utf8'));
      t.deepEqual(
        parsed,
        bets.map((b) => asRow(agency, b)),
      );
    }),
    { seed: 42, numRuns: 200 },
  );
});

test('encodeBetRows writes one row per line, each ending in a newline', (t) => {
  const bets = generateBets({ seed: 11, count: 500 });
  bets.push(['Juan, Jr.', 'Gómez "la Tana"', '1', '2000-01-01', 5]);
  const text = Buffer.from(encodeBetRows(1, bets)).toString('utf8');
  const lines = text.split('\n');
  t.is(lines.length, bets.length + 1);
  t.is(lines.at(-1), '');
  t.false(text.includes('\r'));
  lines.slice(0, -1).forEach((line, i) => t.is(`${line}\n`, formatBetRow(1, bets[i])));
});

test('encodeBetRows is the UTF-8 of the rows formatBetRow writes', (t) => {
  const bets: WireBet[] = [
    ['Zoë', 'Núñez', '1', '2000-01-01', 1],
    ['Ana', 'Paz', '2', '2000-01-02', 2],
  ];
  t.deepEqual(Buffer.from(encodeBetRows(5, bets)), Buffer.from(formatBetRow(5, bets[0]) + formatBetRow(5, bets[1]), 'utf8'));
  t.is(encodeBetRows(5, []).length, 0);
});

test('encodeBetRows is the UTF-8 of the rows formatBetRow writes, for any text and any size of batch', (t) => {
  // Any UTF-16 code units (lone surrogates included), with the ones CSV quoting is about made common.
  const codeUnit = fc.oneof(
    fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
    fc.constantFrom('"', ',', '\r', '\n', 'a', 'ñ'),
  );
  const text = fc.string({ unit: codeUnit, maxLength: 60 });
  const bet = fc.tuple(text, text, text, text, fc.oneof(fc.integer(), fc.double())) as fc.Arbitrary<WireBet>;
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.array(bet, { maxLength: 50 }), (agency, bets) => {
      const expected = Buffer.from(bets.map((one) => formatBetRow(agency, one)).join(''), 'utf8');
      return Buffer.from(encodeBetRows(agency, bets)).equals(expected);
    }),
    { numRuns: 2000, seed: 20261202 },
  );
  // A batch larger than any buffer kept between calls, and the call after it.
  const many = generateBets({ seed: 9, count: 5000 });
  t.deepEqual(Buffer.from(encodeBetRows(12, many)), Buffer.from(many.map((one) => formatBetRow(12, one)).join(''), 'utf8'));
  t.deepEqual(Buffer.from(encodeBetRows(3, many.slice(0, 2))), Buffer.from(formatBetRow(3, many[0]) + formatBetRow(3, many[1]), 'utf8'));
});

test('generateBets is deterministic for a seed', (t) => {
  t.deepEqual(generateBets({ seed: 42, count: 1000 }), generateBets({ seed: 42, count: 1000 }));
  t.notDeepEqual(generateBets({ seed: 42, count: 1000 }), generateBets({ seed: 43, count: 1000 }));
  // A shorter run is a prefix of a longer one with the same seed.
  t.deepEqual(generateBets({ seed: 42, count: 100 }), generateBets({ seed: 42, count: 1000 }).slice(0, 100));
});

test('generateBets places winners exactly at winnerRows and nowhere else', (t) => {
  const winnerRows = [0, 13, 14, 500, 9999];
  const bets = generateBets({ seed: 7, count: 10_000, winnerRows });
  const winners = bets.flatMap((bet, row) => (isWinner(bet) ? [row] : []));
  t.deepEqual(winners, winnerRows);
  // Without winnerRows nothing wins, over many seeds.
  for (let seed = 0; seed < 20; seed++) t.false(generateBets({ seed, count: 2000 }).some(isWinner));
});

test('generateBets with winners differs from the one without only in the winning numbers', (t) => {
  const plain = generateBets({ seed: 9, count: 200 });
  const withWinners = generateBets({ seed: 9, count: 200, winnerRows: [3, 150] });
  plain.forEach((bet, row) => {
    const other = withWinners[row];
    t.deepEqual(other.slice(0, 4), bet.slice(0, 4));
    t.is(other[4], row === 3 || row === 150 ? WINNING_NUMBER : bet[4]);
  });
});

test('generated bets are valid bets', (t) => {
  for (const bet of generateBets({ seed: 3, count: 5000, winnerRows: [1, 2, 3] })) t.notThrows(() => validateBet(bet, '2026-01-01'));
});

test('seededRandom gives the same sequence for a seed, in [0, 1)', (t) => {
  const a = seededRandom(123);
  const b = seededRandom(123);
  const values = Array.from({ length: 1000 }, () => a());
  t.deepEqual(
    values,
    Array.from({ length: 1000 }, () => b()),
  );
  t.true(values.every((value) => value >= 0 && value < 1));
  t.not(seededRandom(124)(), values[0]);
});
