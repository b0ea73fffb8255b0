import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { Batcher, BETS_BUDGET, type BetsBatch } from '../src/agency/batcher.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { encodeMessage, packValue } from '../src/wire/codec.ts';
import { MAX_FRAME_SIZE } from '../src/wire/frame.ts';
import type { WireBet } from '../src/wire/messages.ts';

/** Every batch the batcher makes of `bets`, the short last one included. */
function batchAll(maxAmount: number, bets: readonly WireBet[], offset = 0): WireBet[][] {
  const batcher = new Batcher(maxAmount, offset);
  const batches: BetsBatch[] = [];
  for (const bet of bets) {
    const batch = batcher.add(bet);
    if (batch !== undefined) batches.push(batch);
  }
  const last = batcher.flush();
  if (last !== undefined) batches.push(last);
  // Each batch's frame is, byte for byte, what the codec makes of the same message.
  let next = offset;
  for (const batch of batches) {
    if (batch.offset !== next || batch.count !== batch.bets.length)
      throw new Error(`batch at ${batch.offset} (${batch.count} bets), expected ${next}`);
    const expected = encodeMessage({ type: 'BETS', offset: batch.offset, bets: batch.bets as WireBet[] });
    if (!Buffer.from(batch.frame).equals(expected))
      throw new Error(`the frame of the batch at ${batch.offset} differs from encodeMessage's`);
    next += batch.count;
  }
  return batches.map((batch) => batch.bets as WireBet[]);
}

const size = (bet: WireBet) => packValue(bet).length;
const bytesOf = (batch: readonly WireBet[]) => batch.reduce((sum, bet) => sum + size(bet), 0);

/**
 * What the batcher promises for any input: the batches are the input in order;
 * each fits a frame and the amount cap; each but the last is full, by amount
 * or because the next bet of the stream would not fit the byte budget.
 */
function checkBatches(t: ExecutionContext, maxAmount: number, bets: readonly WireBet[], batches: WireBet[][]): void {
  t.deepEqual(batches.flat(), [...bets]);
  batches.forEach((batch, i) => {
    t.true(batch.length > 0);
    if (maxAmount > 0) t.true(batch.length <= maxAmount, `batch ${i} has ${batch.length} bets`);
    t.true(bytesOf(batch) <= BETS_BUDGET, `batch ${i} has ${bytesOf(batch)} bytes`);
    const frame = encodeMessage({ type: 'BETS', offset: 2 ** 40, bets: batch });
    t.true(frame.length <= MAX_FRAME_SIZE, `batch ${i} makes a frame of ${frame.length} bytes`);
    if (i < batches.length - 1) {
      const next = batches[i + 1][0];
      const amountFull = maxAmount > 0 && batch.length === maxAmount;
      const byteFull = bytesOf(batch) + size(next) > BETS_BUDGET;
      t.true(amountFull || byteFull, `batch ${i} of ${batch.length} bets and ${bytesOf(batch)} bytes is short`);
    }
  });
}

const longNames = (count: number): WireBet[] =>
  Array.from({ length: count }, (_, i) => [
    'ñ'.repeat(50),
    'x'.repeat(100),
    String(1_000_000_000_000_000n + BigInt(i)),
    '2000-02-29',
    i % 10_000,
  ]);

test('with maxAmount 64, 16 bets make one batch of 16', (t) => {
  const bets = generateBets({ seed: 1, count: 16 });
  const batches = batchAll(64, bets);
  t.deepEqual(
    batches.map((batch) => batch.length),
    [16],
  );
  t.deepEqual(batches[0], bets);
});

test('with maxAmount 99, 21 bets make one batch of 21', (t) => {
  const bets = generateBets({ seed: 2, count: 21 });
  t.deepEqual(
    batchAll(99, bets).map((batch) => batch.length),
    [21],
  );
});

test('with maxAmount 5, 21 bets make four full batches and a short last one', (t) => {
  const bets = generateBets({ seed: 3, count: 21 });
  const batches = batchAll(5, bets);
  t.deepEqual(
    batches.map((batch) => batch.length),
    [5, 5, 5, 5, 1],
  );
  checkBatches(t, 5, bets, batches);
});

test('a batch closes as soon as it reaches maxAmount, so nothing is left to flush', (t) => {
  const batcher = new Batcher(3);
  const bets = generateBets({ seed: 4, count: 6 });
  t.is(batcher.add(bets[0]), undefined);
  t.is(batcher.add(bets[1]), undefined);
  t.deepEqual(batcher.add(bets[2])?.bets, bets.slice(0, 3));
  t.is(batcher.add(bets[3]), undefined);
  t.is(batcher.add(bets[4]), undefined);
  t.deepEqual(batcher.add(bets[5])?.bets, bets.slice(3, 6));
  t.is(batcher.flush(), undefined);
});

test('with maxAmount 99, many bets make batches of 99 but the last', (t) => {
  const bets = generateBets({ seed: 5, count: 1000 });
  const batches = batchAll(99, bets);
  t.deepEqual(
    batches.map((batch) => batch.length),
    [...Array(10).fill(99), 10],
  );
  checkBatches(t, 99, bets, batches);
});

test('with maxAmount 0 batches are byte-full: the next bet would exceed the budget', (t) => {
  const bets = generateBets({ seed: 6, count: 5000 });
  const batches = batchAll(0, bets);
  t.true(batches.length > 10);
  checkBatches(t, 0, bets, batches);
  // Byte-full, not amount-full: the budget is what closed each batch.
  batches.slice(0, -1).forEach((batch, i) => t.true(bytesOf(batch) + size(batches[i + 1][0]) > BETS_BUDGET));
});

test('a large maxAmount is still held to the byte budget', (t) => {
  const bets = longNames(300);
  const batches = batchAll(99, bets);
  t.true(batches.length > 3);
  for (const batch of batches) t.true(batch.length < 99);
  checkBatches(t, 99, bets, batches);
});

test('bets with 100-byte names fill batches to the byte budget and each frame fits', (t) => {
  const bets = longNames(500);
  for (const bet of bets) t.is(Buffer.byteLength(bet[0]), 100);
  checkBatches(t, 0, bets, batchAll(0, bets));
});

test('accented names are sized by their UTF-8 bytes', (t) => {
  const accented: WireBet[] = Array.from({ length: 2000 }, (_, i) => [
    'Agustín Emanuel',
    'Núñez Ibáñez',
    String(20_000_000 + i),
    '1980-05-05',
    i % 10_000,
  ]);
  const ascii: WireBet[] = accented.map(([, , ...rest]) => ['Agustin Emanuel', 'Nunez Ibanez', ...rest]);
  const accentedBatches = batchAll(0, accented);
  const asciiBatches = batchAll(0, ascii);
  checkBatches(t, 0, accented, accentedBatches);
  checkBatches(t, 0, ascii, asciiBatches);
  // Three more bytes per bet: fewer bets per batch.
  t.true(accentedBatches[0].length < asciiBatches[0].length);
});

test('the same bets fed through the batcher always give the same batches', (t) => {
  const bets = generateBets({ seed: 7, count: 3000 });
  for (const maxAmount of [0, 1, 7, 64, 99]) {
    t.deepEqual(batchAll(maxAmount, bets), batchAll(maxAmount, bets));
    t.deepEqual(batchAll(maxAmount, bets), batchAll(maxAmount, generateBets({ seed: 7, count: 3000 })));
  }
});

test('any bets and any maxAmount make batches that keep order, fit a frame and are full but the last', (t) => {
  const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => Buffer.byteLength(s) <= 100);
  const bet: fc.Arbitrary<WireBet> = fc.tuple(
    name,
    name,
    fc.stringMatching(/^[0-9]{1,16}$/),
    fc.constant('1970-01-01'),
    fc.integer({ min: 0, max: 9999 }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 200 }), fc.array(bet, { maxLength: 400 }), (maxAmount, bets) => {
      checkBatches(t, maxAmount, bets, batchAll(maxAmount, bets));
    }),
    { seed: 42, numRuns: 100 },
  );
});

test('flush of an empty batcher gives nothing', (t) => {
  t.is(new Batcher(0).flush(), undefined);
  t.deepEqual(batchAll(10, []), []);
});

test('a bet larger than the budget throws', (t) => {
  const batcher = new Batcher(0);
  const bet: WireBet = ['Ana', 'Paz', '1', '2000-01-01', 1];
  t.is(batcher.add(bet), undefined);
  const huge: WireBet = ['x'.repeat(BETS_BUDGET), 'Paz', '1', '2000-01-01', 1];
  t.throws(() => batcher.add(huge), { instanceOf: RangeError });
  // The batch in hand is neither lost nor joined by the bet that did not fit.
  t.deepEqual(batcher.flush()?.bets, [bet]);
  t.is(batcher.nextOffset, 1);
});

test('a maxAmount that is negative or fractional is refused', (t) => {
  for (const maxAmount of [-1, 1.5, NaN]) t.throws(() => new Batcher(maxAmount), { instanceOf: TypeError });
});

test("frames are the codec's bytes at any offset: fixint, uint8, uint16, uint32 and beyond", (t) => {
  const bets = generateBets({ seed: 31, count: 700 });
  for (const offset of [0, 100, 200, 60_000, 70_000, 2 ** 32 - 5, 2 ** 40, Number.MAX_SAFE_INTEGER - 1000]) {
    t.deepEqual(batchAll(0, bets, offset).flat(), bets, `offset ${offset}`);
  }
});

test("frames are the codec's bytes for any bets, names of every length and script included", (t) => {
  // Strings of any UTF-16 code units hold lone surrogates too.
  const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
  const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 120 }), fc.string({ unit: codeUnit, maxLength: 40 }));
  const bet = fc.tuple(text, text, fc.stringMatching(/^[0-9]{1,16}$/), fc.constant('1999-12-31'), fc.integer({ min: 0, max: 9999 }));
  fc.assert(
    fc.property(fc.array(bet, { maxLength: 300 }), fc.nat({ max: 200 }), fc.nat({ max: 2 ** 33 }), (bets, maxAmount, offset) => {
      t.deepEqual(batchAll(maxAmount, bets, offset).flat(), bets);
    }),
    { numRuns: 200 },
  );
});

test('a bet sent alone closes the open batch, takes the next offset in a frame of its own, and numbering goes on', (t) => {
  const [a, b, c] = generateBets({ seed: 32, count: 3 });
  const batcher = new Batcher(0, 10);
  t.is(batcher.add(a), undefined);
  const [open, single] = batcher.alone(['Bad', 'Row', 'x1', '1999-02-30', 'seven']);
  t.deepEqual([open.offset, open.count, single.offset, single.count], [10, 1, 11, 1]);
  t.true(
    Buffer.from(single.frame).equals(
      encodeMessage({ type: 'BETS', offset: 11, bets: [['Bad', 'Row', 'x1', '1999-02-30', 'seven'] as unknown as WireBet] }),
    ),
  );
  t.deepEqual(
    batcher.alone(['only']).map((batch) => batch.offset),
    [12],
  );
  t.is(batcher.add(b), undefined);
  t.is(batcher.add(c), undefined);
  const last = batcher.flush()!;
  t.deepEqual([last.offset, last.count, batcher.nextOffset], [13, 2, 15]);
});
