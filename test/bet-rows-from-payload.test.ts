import { isUtf8 } from 'node:buffer';
import test from 'ava';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { Batcher } from '../src/agency/batcher.ts';
import { validateBet } from '../src/bets/bet.ts';
import { betRowsFromPayload, type BetRows } from '../src/bets/bet-rows-from-payload.ts';
import { generateBets, seededRandom } from '../src/bets/bet-generator.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { decodeAs } from '../src/wire/codec.ts';
import { MessageType } from '../src/wire/message-type.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { InvalidBetError } from '../src/errors.ts';

// The fast path must never accept what the general path (msgpackr, validateBet,
// encodeCanonicalLines) would not, nor write other bytes; where it declines, the
// general path decides. Every case below checks exactly that, and the plain
// cases also check that the fast path does take them.

const TODAY = '2026-06-15';
const AGENCY = 7;
const packr = new Packr({ useRecords: false, variableMapSize: true });
const payloadOf = (value: unknown): Uint8Array => packr.pack(value);

/** What the general path makes of a payload: rows, or the reason it refuses. */
function generalPath(payload: Uint8Array): BetRows | string {
  try {
    const { offset, bets } = decodeAs({ type: MessageType.BETS, payload }, 'BETS');
    const valid = bets.map((bet) => validateBet(bet as unknown[], TODAY));
    return { offset, count: bets.length, rows: encodeCanonicalLines(AGENCY, valid) };
  } catch (error) {
    if (error instanceof InvalidBetError || (error as { code?: string }).code === 'BAD_MESSAGE') return (error as Error).message;
    throw error;
  }
}

/** Runs both paths; fails if the fast one accepted differently. Returns whether it took the payload. */
function agree(t: import('ava').ExecutionContext, payload: Uint8Array, label: string): boolean {
  const fast = betRowsFromPayload(payload, AGENCY, TODAY);
  if (fast === undefined) return false;
  const general = generalPath(payload);
  if (typeof general === 'string') {
    t.fail(`${label}: the fast path took a payload the general path refuses (${general})`);
    return true;
  }
  t.is(fast.offset, general.offset, label);
  t.is(fast.count, general.count, label);
  t.is(Buffer.from(fast.rows).toString('latin1'), Buffer.from(general.rows).toString('latin1'), label);
  return true;
}

const bet = (overrides: Partial<Record<0 | 1 | 2 | 3 | 4, unknown>> = {}): unknown[] => {
  const base: unknown[] = ['María José', 'Núñez', '30904465', '1999-03-17', 7574];
  for (const [index, value] of Object.entries(overrides)) base[Number(index)] = value;
  return base;
};

test('takes the batches the real agency sends, accents and all, and writes what the general path writes', (t) => {
  const batcher = new Batcher(0);
  const batches: WireBet[][] = [];
  for (const b of generateBets({ seed: 11, count: 3000, winnerRows: [0, 5, 2999] })) {
    const full = batcher.add(b);
    if (full !== undefined) batches.push(full.bets as WireBet[]);
  }
  batches.push(batcher.flush()!.bets as WireBet[]);
  let offset = 0;
  for (const batch of batches) {
    // The generator has "O'Connor" but no name that needs quoting.
    t.true(agree(t, payloadOf({ offset, bets: batch }), `batch at ${offset}`), `batch at ${offset} was not taken`);
    offset += batch.length;
  }
  t.true(batches.length > 10);
});

test('takes the plain edge values', (t) => {
  const taken = [
    bet({ 3: TODAY }),
    bet({ 3: '2000-02-29' }),
    bet({ 3: '0001-01-01' }),
    bet({ 4: 0 }),
    bet({ 4: 127 }),
    bet({ 4: 128 }),
    bet({ 4: 255 }),
    bet({ 4: 256 }),
    bet({ 4: 9999 }),
    bet({ 2: '0' }),
    bet({ 2: '1234567890123456' }),
    bet({ 0: 'x'.repeat(100) }),
    bet({ 1: `${'ñ'.repeat(49)}x` }),
    bet({ 0: ' a ' }),
    bet({ 1: 'Zoë 🎲' }),
  ];
  for (const b of taken) t.true(agree(t, payloadOf({ offset: 0, bets: [b] }), JSON.stringify(b)), `${JSON.stringify(b)} was not taken`);
  for (const offset of [0, 127, 128, 65535, 65536, 2 ** 32 - 1]) {
    t.true(agree(t, payloadOf({ offset, bets: [bet()] }), `offset ${offset}`), `offset ${offset} was not taken`);
  }
  t.true(agree(t, payloadOf({ bets: [bet()], offset: 3 }), 'keys the other way round'));
});

test('declines every bet the general path refuses, and the names it cannot write unquoted', (t) => {
  const declined = [
    bet({ 0: '' }),
    bet({ 0: '   ' }),
    bet({ 0: '\u00a0' }),
    bet({ 0: 'Ana\tMaría' }),
    bet({ 0: 'Ana\u007f' }),
    bet({ 0: 'x'.repeat(101) }),
    bet({ 1: 'ñ'.repeat(51) }),
    bet({ 0: 'Ana, María' }),
    bet({ 1: 'Pérez "el Tano"' }),
    bet({ 0: 'ÑÑ' }),
    bet({ 0: 'Ana\u0085' }),
    bet({ 0: 'Ana\u009f' }),
    bet({ 1: 'Ana\u202eaíraM' }),
    bet({ 1: 'Ana\u202a' }),
    bet({ 1: 'Ana\u2066' }),
    bet({ 1: 'Ana\u2069' }),
    bet({ 0: 'Ana\u200e' }),
    bet({ 0: 'Ana\u200f' }),
    bet({ 0: 'Ana\u061c' }),
    bet({ 0: 'Ana\u2028' }),
    bet({ 0: 'Ana\u2029' }),
    bet({ 0: 'Ana\ufffd' }),
    bet({ 0: '\u200b' }),
    bet({ 0: '=1+1' }),
    bet({ 0: '+54' }),
    bet({ 1: '-Paz' }),
    bet({ 1: '@Paz' }),
    bet({ 1: '  =Paz' }),
    bet({ 1: '\u00a0=Paz' }),
    bet({ 2: '' }),
    bet({ 2: '12345678901234567' }),
    bet({ 2: '3090446a' }),
    bet({ 2: 30904465 }),
    bet({ 3: '2026-06-16' }),
    bet({ 3: '2001-02-29' }),
    bet({ 3: '1999-13-01' }),
    bet({ 3: '1999-00-10' }),
    bet({ 3: '1999-04-31' }),
    bet({ 3: '1999/03/17' }),
    bet({ 3: '99-03-17' }),
    bet({ 4: 10000 }),
    bet({ 4: -1 }),
    bet({ 4: 7574.5 }),
    bet({ 4: 7574n }),
    bet({ 4: '7574' }),
    bet({ 0: null }),
    [...bet(), 'extra'],
    bet().slice(0, 4),
  ];
  for (const b of declined) {
    const label = JSON.stringify(b, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
    t.false(agree(t, payloadOf({ offset: 0, bets: [bet(), b] }), label), `${label} was taken`);
  }
});

test('declines other encodings and shapes, which the general path judges', (t) => {
  const good = payloadOf({ offset: 5, bets: [bet()] });
  const cases: Record<string, Uint8Array> = {
    'an empty list': payloadOf({ offset: 0, bets: [] }),
    'an extra key': payloadOf({ offset: 0, bets: [bet()], note: 'x' }),
    'a missing offset': payloadOf({ bets: [bet()] }),
    'a negative offset': payloadOf({ offset: -1, bets: [bet()] }),
    'a float offset': payloadOf({ offset: 1.5, bets: [bet()] }),
    'a 64-bit offset': payloadOf({ offset: 2 ** 40, bets: [bet()] }),
    'a list that is not one': payloadOf({ offset: 0, bets: 'x' }),
    'a trailing byte': Buffer.concat([good, Buffer.from([0xc0])]),
    'a cut payload': good.subarray(0, good.length - 1),
    'a duplicated key': Buffer.concat([Buffer.from([0x82]), payloadOf('offset'), payloadOf(1), payloadOf('offset'), payloadOf(2)]),
    'a name that is not UTF-8': Buffer.concat([
      Buffer.from([0x82]),
      payloadOf('offset'),
      payloadOf(0),
      payloadOf('bets'),
      Buffer.from([0x91, 0x95, 0xa3, 0x41, 0xc3, 0x28]),
      payloadOf('Lorca'),
      payloadOf('30904465'),
      payloadOf('1999-03-17'),
      payloadOf(1),
    ]),
    'a name as bin': Buffer.concat([
      Buffer.from([0x82]),
      payloadOf('offset'),
      payloadOf(0),
      payloadOf('bets'),
      Buffer.from([0x91, 0x95]),
      payloadOf(Buffer.from('Ana')),
      payloadOf('Lorca'),
      payloadOf('30904465'),
      payloadOf('1999-03-17'),
      payloadOf(1),
    ]),
  };
  for (const [label, payload] of Object.entries(cases)) t.false(agree(t, payload, label), `${label} was taken`);
  // 7574.0 is packed as an integer by msgpackr; a float64 on the wire is a byte sequence of its own.
  const float = Buffer.concat([
    Buffer.from([0x82]),
    payloadOf('offset'),
    payloadOf(0),
    payloadOf('bets'),
    Buffer.from([0x91, 0x95]),
    payloadOf('Ana'),
    payloadOf('Lorca'),
    payloadOf('30904465'),
    payloadOf('1999-03-17'),
    Buffer.from('cb40bd960000000000', 'hex'),
  ]);
  t.false(agree(t, float, 'a number as float64'));
  t.false(typeof generalPath(float) === 'string', 'the general path takes 7574.0');
});

test('any bets fast-check can think of: taken only as the general path takes them', (t) => {
  const field = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.constantFrom('Ana', 'Núñez', ' ', '"', ',', '=', '+', '-', '@', '\u0085', '\u202e', '\u2066', '\u2028', '\u200b', '\ufffd'),
  );
  const date = fc.oneof(
    fc.date({ min: new Date('0001-01-01'), max: new Date('2030-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
    fc.string({ minLength: 10, maxLength: 10 }),
  );
  const number = fc.oneof(fc.integer({ min: -5, max: 10005 }), fc.double(), fc.constant(7574));
  const anyBet = fc.tuple(field, field, fc.oneof(fc.stringMatching(/^[0-9]{1,17}$/), fc.string()), date, number);
  let taken = 0;
  fc.assert(
    fc.property(fc.nat(), fc.array(anyBet, { minLength: 1, maxLength: 20 }), (offset, bets) => {
      if (agree(t, payloadOf({ offset, bets }), JSON.stringify(bets))) taken++;
    }),
    { numRuns: 2000, seed: 20261123 },
  );
  t.true(taken > 0, 'some random batches are plain enough to take');
});

test('names of random bytes: taken only when they are well-formed UTF-8 that the general path takes', (t) => {
  // The names are raw msgpack strings, so the bytes reach the fast path as they are.
  const withName = (name: Uint8Array) =>
    Buffer.concat([
      Buffer.from([0x82]),
      payloadOf('offset'),
      payloadOf(0),
      payloadOf('bets'),
      Buffer.from([0x91, 0x95, 0xd9, name.length]),
      name,
      payloadOf('Lorca'),
      payloadOf('30904465'),
      payloadOf('1999-03-17'),
      payloadOf(1),
    ]);
  const highBytes = fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => bytes.map((byte) => byte | 0x80));
  // The UTF-8 of every character a name may not hold, and of its neighbours, which it may.
  const nearForbidden = fc.constantFrom(
    ...[
      '\u007f',
      '\u0080',
      '\u009f',
      '\u00a0',
      '\u061b',
      '\u061c',
      '\u061d',
      '\u200d',
      '\u200e',
      '\u200f',
      '\u2010',
      '\u2027',
      '\u2028',
      '\u2029',
      '\u202a',
      '\u202e',
      '\u202f',
      '\u2065',
      '\u2066',
      '\u2069',
      '\u206a',
      '\ufffc',
      '\ufffd',
      '\ufffe',
      '=',
      '+',
      '-',
      '@',
      ' ',
    ].map((c) => Buffer.from(c)),
  );
  const name = fc
    .array(fc.oneof(highBytes, nearForbidden, fc.constant(Buffer.from('a'))), { minLength: 1, maxLength: 6 })
    .map((parts) => Buffer.concat(parts));
  let wellFormed = 0;
  let invalid = 0;
  fc.assert(
    fc.property(name, (bytes) => {
      const taken = agree(t, withName(bytes), bytes.toString('hex'));
      const general = generalPath(withName(bytes));
      // Not UTF-8: the general path refuses it, naming the field; it never stores a replacement.
      if (!isUtf8(bytes)) {
        invalid++;
        t.regex(typeof general === 'string' ? general : 'taken', /^first_name must /, bytes.toString('hex'));
      }
      // Taken exactly when it is plain: well-formed, a visible letter, accepted by the general path, and
      // its first visible ASCII character not a formula's (the fast path leaves =, +, - and @ after
      // other leading characters to the general path).
      const firstVisible = bytes.find((byte) => byte > 0x20 && byte < 0x7f);
      const plain =
        isUtf8(bytes) && bytes.includes(0x61) && typeof general !== 'string' && !'=+-@'.includes(String.fromCharCode(firstVisible ?? 0x61));
      if (plain) wellFormed++;
      t.is(taken, plain, `${bytes.toString('hex')}: taken ${taken}, plain ${plain}`);
    }),
    { numRuns: 5000, seed: 7 },
  );
  t.true(invalid > 0);
  for (const hex of ['61c3a9', '61e282ac', '61f09f8eb2', '61efbfbf', '61f48fbfbf'])
    t.true(agree(t, withName(Buffer.from(hex, 'hex')), hex), hex);
  for (const hex of ['61c0af', '61e080af', '61eda080', '61f4908080', '61c3', '61e282', '61ff', '6180']) {
    t.false(agree(t, withName(Buffer.from(hex, 'hex')), hex), hex);
    t.regex(String(generalPath(withName(Buffer.from(hex, 'hex')))), /^first_name must not contain bytes that are not valid UTF-8/, hex);
  }
  t.true(wellFormed > 0);
});

test('payloads with random bytes changed: taken only as the general path takes them', (t) => {
  const random = seededRandom(99);
  const base = payloadOf({ offset: 1000, bets: generateBets({ seed: 4, count: 30 }) });
  let taken = 0;
  for (let run = 0; run < 5000; run++) {
    const payload = Uint8Array.from(base);
    const changes = 1 + Math.floor(random() * 3);
    for (let i = 0; i < changes; i++) payload[Math.floor(random() * payload.length)] = Math.floor(random() * 256);
    if (agree(t, payload, `run ${run}`)) taken++;
  }
  t.true(taken > 0);
});
