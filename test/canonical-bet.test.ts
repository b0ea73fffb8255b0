// The canonical lines the digests are over, and the conversions between them
// and bets.csv's rows, which the Store makes as it writes and recovery as it
// reads back.
import test from 'ava';
import fc from 'fast-check';
import { encodeBetRows } from '../src/bets/bets-csv.ts';
import { CanonicalFromCsv, canonicalLine, commitTail, csvFromCanonical, encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { EMPTY_UPLOAD_DIGEST, uploadDigestOf } from '../src/bets/upload-digest.ts';
import { CHAIN_START, nextChain } from '../src/storage/hash-chain.ts';
import type { WireBet } from '../src/wire/messages.ts';

const bets: WireBet[] = [
  ['Santiago Lionel', 'Lorca', '30904465', '1999-03-17', 7574],
  ['María José', "O'Connor", '1', '2000-02-29', 0],
];

test('a canonical line is the fields as validated, TAB between them, a newline after', (t) => {
  t.is(canonicalLine(3, bets[0]), '3\tSantiago Lionel\tLorca\t30904465\t1999-03-17\t7574\n');
  t.is(Buffer.from(encodeCanonicalLines(3, bets)).toString('utf8'), canonicalLine(3, bets[0]) + canonicalLine(3, bets[1]));
  t.is(encodeCanonicalLines(3, []).length, 0);
});

// Computed apart from this code:
//   printf '3\tSantiago Lionel\tLorca\t30904465\t1999-03-17\t7574\n3\tMaría José\tO'"'"'Connor\t1\t2000-02-29\t0\n' | sha256sum
// and the chain, with D that digest:
//   C1=$( (head -c 32 /dev/zero; printf '<the two lines>offsets\t3\t2\t2\ntime\t2026-12-04T21:00:00.000Z\n') | sha256sum | cut -c1-64)
//   ( echo -n $C1 | xxd -r -p; printf "offsets\t3\t2\t2\nfinish\t3\t2\t$D\ntime\t2026-12-04T21:00:01.000Z\n" ) | sha256sum
const UPLOAD_DIGEST = '25ee4107ef841882e4ebc122ef5eae28a0df32b1cece928594d3d1c4fffda3a6';
const CHAIN_AFTER_BETS = '5727e612b5071f684081ee5b8753d17f53b2173f5f9bbb4774cfed8a2af31ac1';
const CHAIN_AFTER_FINISH = '7222f868700ffa0da69b47973a61b1a67881942a556ccea2ba6708fbcda83868';

test('the upload digest is SHA-256 over the canonical lines: a vector computed apart', (t) => {
  t.is(uploadDigestOf(3, bets), UPLOAD_DIGEST);
  t.is(EMPTY_UPLOAD_DIGEST, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('the hash chain links each commit: its bets, then its offsets, finish and time lines; a vector computed apart', (t) => {
  const first = nextChain(
    CHAIN_START,
    [encodeCanonicalLines(3, bets)],
    commitTail({ 3: { next: 2, stored: 2 } }, undefined, '2026-12-04T21:00:00.000Z'),
  );
  t.is(first, CHAIN_AFTER_BETS);
  const second = nextChain(
    first,
    [],
    commitTail({ 3: { next: 2, stored: 2 } }, { 3: { total: 2, digest: UPLOAD_DIGEST } }, '2026-12-04T21:00:01.000Z'),
  );
  t.is(second, CHAIN_AFTER_FINISH);
});

test("a commit's tail lists offsets then finishes, each by ascending agency id", (t) => {
  const tail = commitTail(
    { 10: { next: 5, stored: 4 }, 2: { next: 1, stored: 1 } },
    { 10: { total: 5, digest: 'b' }, 9: { total: 0, digest: 'a' } },
    'T',
  );
  t.is(Buffer.from(tail).toString('utf8'), 'offsets\t2\t1\t1\noffsets\t10\t5\t4\nfinish\t9\t0\ta\nfinish\t10\t5\tb\ntime\tT\n');
  t.is(Buffer.from(commitTail({}, undefined, 'T')).toString('utf8'), 'time\tT\n');
});

// Names as validation lets them through: printable, never TAB, CR or LF; quotes and commas made common.
const nameUnit = fc.oneof(
  fc.constantFrom('"', ',', 'a', 'Z', ' ', 'ñ', 'é', '🎲', "'"),
  fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
);
const name = fc.string({ unit: nameUnit, minLength: 1, maxLength: 30 });
const bet = fc.tuple(
  name,
  name,
  fc.stringMatching(/^[0-9]{1,12}$/),
  fc.constantFrom('1999-03-17', '2000-02-29'),
  fc.integer({ min: 0, max: 9999 }),
) as fc.Arbitrary<WireBet>;

test('canonical lines become the bets.csv rows formatBetRow writes, quotes and commas quoted', (t) => {
  t.is(
    Buffer.from(csvFromCanonical(encodeCanonicalLines(2, [['Juan, Jr.', 'Gómez "la Tana"', '1', '2000-01-01', 5]]))).toString(),
    '2,"Juan, Jr.","Gómez ""la Tana""",1,2000-01-01,5\n',
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100_000 }), fc.array(bet, { maxLength: 40 }), (agency, some) => {
      t.deepEqual(Buffer.from(csvFromCanonical(encodeCanonicalLines(agency, some))), Buffer.from(encodeBetRows(agency, some)));
    }),
    { numRuns: 1000, seed: 20261204 },
  );
});

// Names with no quote or comma, the batches csvFromCanonical turns a word at a time: bytes that
// differ from a TAB in one bit (0x08, 0x0b, 0x19, 0x49, 0x89: the last inside 'É' and 'ɉ') beside it.
const plainUnit = fc.oneof(
  fc.constantFrom('É', 'ɉ', 'I', ')', '\u0089', '🎲', 'ñ'),
  fc.integer({ min: 0x20, max: 0x7e }).map((code) => (code === 0x22 || code === 0x2c ? 'x' : String.fromCharCode(code))),
);
const plainName = fc.string({ unit: plainUnit, minLength: 1, maxLength: 30 });
const plainBet = fc.tuple(
  plainName,
  plainName,
  fc.stringMatching(/^[0-9]{1,12}$/),
  fc.constant('2000-02-29'),
  fc.nat(9999),
) as fc.Arbitrary<WireBet>;

test('a batch with no quote or comma becomes its rows from any offset of any buffer, and is left as it was', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100_000 }), fc.array(plainBet, { maxLength: 40 }), fc.nat(7), (agency, some, offset) => {
      const lines = encodeCanonicalLines(agency, some);
      const within = Buffer.alloc(offset + lines.length + 3, 0x09);
      within.set(lines, offset);
      const given = within.subarray(offset, offset + lines.length);
      t.deepEqual(Buffer.from(csvFromCanonical(given)), Buffer.from(encodeBetRows(agency, some)));
      t.deepEqual(Buffer.from(given), Buffer.from(lines));
    }),
    { numRuns: 1000, seed: 20261205 },
  );
});

test('bets.csv rows read back in chunks of any size are the canonical lines they were written from', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100_000 }),
      fc.array(bet, { maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (agency, some, cuts) => {
        const csv = Buffer.from(encodeBetRows(agency, some));
        const at = [0, ...cuts.map((cut) => cut % (csv.length + 1)).sort((a, b) => a - b), csv.length];
        const reader = new CanonicalFromCsv();
        const lines = Buffer.concat(at.slice(1).map((end, i) => reader.push(csv.subarray(at[i], end))));
        t.true(reader.ended);
        t.deepEqual(lines, Buffer.from(encodeCanonicalLines(agency, some)));
      },
    ),
    { numRuns: 1000, seed: 20261205 },
  );
});

test('a chunk that ends inside a row keeps it for the next', (t) => {
  const reader = new CanonicalFromCsv();
  t.is(reader.push(Buffer.from('1,Ana,"Pa')).length, 0);
  t.false(reader.ended);
  t.is(Buffer.from(reader.push(Buffer.from('z, la",1,2000-01-01,5\n'))).toString(), '1\tAna\tPaz, la\t1\t2000-01-01\t5\n');
  t.true(reader.ended);
});
