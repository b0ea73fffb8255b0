import test from 'ava';
import fc from 'fast-check';
import { Packr, unpack } from 'msgpackr';
import { Batcher } from '../src/agency/batcher.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { decodeAs, decodeMessage, encodeMessage, encodeResult } from '../src/wire/codec.ts';
import { HEADER_SIZE, MAX_FRAME_SIZE, type Frame } from '../src/wire/frame.ts';
import { FrameDecoder } from '../src/wire/frame-decoder.ts';
import { MessageType } from '../src/wire/message-type.ts';
import type { Message, MessageName, WireBet } from '../src/wire/messages.ts';
import { ErrorCode, ProtocolError } from '../src/errors.ts';

// An independent packer, so that tests can send payloads the codec would never write.
const rawPackr = new Packr({ useRecords: false, variableMapSize: true });
const anyValuePackr = new Packr({ useRecords: false, largeBigIntToFloat: true });

const frameOf = (name: MessageName, payload: unknown): Frame => ({ type: MessageType[name], payload: rawPackr.pack(payload) });
const rawFrame = (name: MessageName, hex: string): Frame => ({ type: MessageType[name], payload: Buffer.from(hex, 'hex') });

/** Decodes a whole encoded frame the way a peer would: through the stream decoder. */
function roundTrip(message: Message): Message {
  const frames = new FrameDecoder().push(encodeMessage(message));
  if (frames.length !== 1) throw new Error(`expected one frame, got ${frames.length}`);
  return decodeMessage(frames[0]);
}

function badMessage(t: import('ava').ExecutionContext, frame: Frame, names: RegExp): void {
  const error = t.throws(() => decodeMessage(frame), { instanceOf: ProtocolError }, `${names}`);
  if (error === undefined) return;
  t.is((error as ProtocolError).code, ErrorCode.BAD_MESSAGE, error.message);
  t.regex(error.message, names);
}

const text = fc.string({ unit: 'grapheme', maxLength: 30 });
const offset = fc.maxSafeNat();
const wireBet: fc.Arbitrary<WireBet> = fc.tuple(
  text,
  text,
  fc.stringMatching(/^[0-9]{1,16}$/),
  fc.constant('1999-12-31'),
  fc.integer({ min: 0, max: 9999 }),
);

const anyMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('HELLO' as const), agency: offset, progress: fc.boolean() }, { requiredKeys: ['type', 'agency'] }),
  fc.record(
    {
      type: fc.constant('WELCOME' as const),
      offset,
      finished: fc.boolean(),
      drawn: fc.boolean(),
      closedAt: fc.date({ min: new Date(0), max: new Date('9999-12-31'), noInvalidDate: true }).map((date) => date.toISOString()),
      stored: offset,
    },
    { requiredKeys: ['type', 'offset', 'finished', 'drawn'] },
  ),
  fc.record({ type: fc.constant('BETS' as const), offset, bets: fc.array(wireBet, { minLength: 1, maxLength: 20 }) }),
  fc.record({ type: fc.constant('ACK' as const), offset }),
  fc.record({ type: fc.constant('FINISH' as const), total: offset, digest: fc.stringMatching(/^[0-9a-f]{64}$/) }),
  fc.constant({ type: 'WINNERS' as const }),
  fc.record({
    type: fc.constant('RESULT' as const),
    documents: fc.array(fc.stringMatching(/^[0-9]{1,16}$/), { maxLength: 100 }),
    last: fc.boolean(),
  }),
  fc.record({ type: fc.constant('WAITING' as const), finished: offset, agencies: offset }),
  fc.constant({ type: 'STATUS' as const }),
  fc.record(
    {
      type: fc.constant('STATUS_REPORT' as const),
      agencies: offset,
      counts: fc.dictionary(fc.constantFrom('absent', 'uploading', 'finished', 'closed'), offset),
      waiting: fc.array(offset, { maxLength: 1000 }),
      waitingMore: offset,
      bets: offset,
      betsPerSecond: offset,
      drawn: fc.boolean(),
      digest: fc.stringMatching(/^[0-9a-f]{64}$/),
      winners: offset,
    },
    { requiredKeys: ['type', 'agencies', 'counts', 'waiting', 'waitingMore', 'bets', 'betsPerSecond', 'drawn'] },
  ),
  fc.constant({ type: 'CLOSE' as const }),
  fc.record({
    type: fc.constant('CLOSED' as const),
    at: fc.date({ min: new Date(0), max: new Date('9999-12-31'), noInvalidDate: true }).map((date) => date.toISOString()),
    unfinished: fc.array(fc.integer({ min: 1, max: 1000 }), { maxLength: 20 }),
  }),
  fc.constant({ type: 'PING' as const }),
  fc.constant({ type: 'PONG' as const }),
  fc.record(
    { type: fc.constant('ERROR' as const), code: fc.constantFrom(...Object.values(ErrorCode)), message: text, offset, next: offset },
    { requiredKeys: ['type', 'code', 'message'] },
  ),
);

test('every message type round-trips through encode and decode', (t) => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(anyMessage, (message) => {
      seen.add(message.type);
      const encoded = encodeMessage(message);
      if (encoded.length > MAX_FRAME_SIZE) return false;
      if (encoded[3] !== MessageType[message.type]) return false;
      t.deepEqual(roundTrip(message), message);
      return true;
    }),
    { seed: 42, numRuns: 1000 },
  );
  t.is(seen.size, Object.keys(MessageType).length);
});

test('the header carries magic LT, version 2, the type code and the payload length', (t) => {
  const frame = encodeMessage({ type: 'HELLO', agency: 3 });
  t.is(Buffer.from(frame.subarray(0, HEADER_SIZE)).toString('hex'), '4c54020100000009');
  t.is(frame.length, HEADER_SIZE + 9);
});

test('decodeAs returns the message of the type asked for and refuses any other', (t) => {
  const frame = new FrameDecoder().push(encodeMessage({ type: 'ACK', offset: 7 }))[0];
  t.deepEqual(decodeAs(frame, 'ACK'), { type: 'ACK', offset: 7 });
  const error = t.throws(() => decodeAs(frame, 'WELCOME'), { instanceOf: ProtocolError });
  t.is(error?.code, ErrorCode.UNEXPECTED_MESSAGE);
});

// Values a count field (offset, agency, total, next) must refuse.
const badCounts: Array<[string, unknown]> = [
  ['negative', -1],
  ['non-integer', 1.5],
  ['a string', '3'],
  ['a bigint', 3n],
  ['a huge bigint', 2n ** 63n - 1n],
  ['null', null],
  ['a boolean', true],
  ['NaN', NaN],
  ['infinite', Infinity],
  ['unsafe', 2 ** 53],
  ['an array', [1]],
];

const counts: Array<[MessageName, string, Record<string, unknown>]> = [
  ['HELLO', 'agency', { agency: 1 }],
  ['WELCOME', 'offset', { offset: 0, finished: false, drawn: false }],
  ['BETS', 'offset', { offset: 0, bets: [['Ana', 'Paz', '1', '2000-01-01', 7]] }],
  ['ACK', 'offset', { offset: 0 }],
  ['FINISH', 'total', { total: 0, digest: 'a'.repeat(64) }],
  ['ERROR', 'offset', { code: 'OFFSET_GAP', message: 'gap', offset: 0 }],
  ['ERROR', 'next', { code: 'OFFSET_GAP', message: 'gap', next: 0 }],
];

for (const [name, field, good] of counts) {
  test(`${name} with a good ${field} decodes`, (t) => {
    t.deepEqual(decodeMessage(frameOf(name, good)), { type: name, ...good } as Message);
  });

  test(`${name}.${field} that is missing, negative, fractional, a string or a bigint is BAD_MESSAGE naming the field`, (t) => {
    const names = new RegExp(`${name}\\.${field}\\b`);
    if (name !== 'ERROR') {
      const { [field]: _, ...missing } = good;
      badMessage(t, frameOf(name, missing), names);
    }
    for (const [, value] of badCounts) {
      badMessage(t, frameOf(name, { ...good, [field]: value }), names);
    }
  });
}

test('FINISH.digest and WELCOME.digest must be 64 lowercase hex digits', (t) => {
  for (const [name, good] of [
    ['FINISH', { total: 1, digest: '0f'.repeat(32) }],
    ['WELCOME', { offset: 1, finished: true, drawn: false, total: 1, digest: '0f'.repeat(32) }],
  ] as const) {
    t.like(decodeMessage(frameOf(name, good)), { type: name, digest: '0f'.repeat(32) });
    const names = new RegExp(`${name}\\.digest\\b`);
    for (const value of ['0F'.repeat(32), 'a'.repeat(63), 'a'.repeat(65), 'g'.repeat(64), 7, null, ['a'.repeat(64)]])
      badMessage(t, frameOf(name, { ...good, digest: value }), names);
  }
  const { digest: _, ...missing } = { total: 1, digest: 'a'.repeat(64) };
  badMessage(t, frameOf('FINISH', missing), /FINISH\.digest\b/);
  for (const [, value] of badCounts)
    badMessage(
      t,
      frameOf('WELCOME', { offset: 1, finished: true, drawn: false, total: value, digest: 'a'.repeat(64) }),
      /WELCOME\.total\b/,
    );
});

test('WELCOME.finished and WELCOME.drawn must be booleans', (t) => {
  const good = { offset: 0, finished: false, drawn: true };
  for (const field of ['finished', 'drawn']) {
    const { [field]: _, ...missing } = good as Record<string, unknown>;
    badMessage(t, frameOf('WELCOME', missing), new RegExp(`WELCOME\\.${field}\\b`));
    for (const value of [0, 1, 'true', null, []])
      badMessage(t, frameOf('WELCOME', { ...good, [field]: value }), new RegExp(`WELCOME\\.${field}\\b`));
  }
});

test('BETS.bets must be a non-empty array of arrays', (t) => {
  const names = /BETS\.bets\b/;
  badMessage(t, frameOf('BETS', { offset: 0 }), names);
  for (const value of [[], 'bets', 3, null, {}, [1, 2], ['Ana'], [['Ana', 'Paz', '1', '2000-01-01', 7], 'x']]) {
    badMessage(t, frameOf('BETS', { offset: 0, bets: value }), names);
  }
});

test('RESULT.documents must be an array of strings and RESULT.last a boolean', (t) => {
  badMessage(t, frameOf('RESULT', { last: true }), /RESULT\.documents\b/);
  for (const value of ['123', [123], ['1', 2], null, {}])
    badMessage(t, frameOf('RESULT', { documents: value, last: true }), /RESULT\.documents\b/);
  badMessage(t, frameOf('RESULT', { documents: [] }), /RESULT\.last\b/);
  for (const value of [1, 'true', null]) badMessage(t, frameOf('RESULT', { documents: [], last: value }), /RESULT\.last\b/);
});

test('ERROR.code and ERROR.message must be strings', (t) => {
  badMessage(t, frameOf('ERROR', { message: 'x' }), /ERROR\.code\b/);
  badMessage(t, frameOf('ERROR', { code: 7, message: 'x' }), /ERROR\.code\b/);
  badMessage(t, frameOf('ERROR', { code: 'INTERNAL' }), /ERROR\.message\b/);
  badMessage(t, frameOf('ERROR', { code: 'INTERNAL', message: ['x'] }), /ERROR\.message\b/);
});

test('a payload that is not a map is BAD_MESSAGE for every message type', (t) => {
  for (const name of Object.keys(MessageType) as MessageName[]) {
    for (const value of [[], 3, 'HELLO', null, true, new Uint8Array([1, 2])]) {
      badMessage(t, frameOf(name, value), new RegExp(`${name} payload must be a map`));
    }
  }
});

test('a payload that is not msgpack is BAD_MESSAGE', (t) => {
  for (const name of Object.keys(MessageType) as MessageName[]) {
    // Empty; a map cut short; a string cut short; 0xc1, which msgpack never uses.
    for (const hex of ['', '81a6616765', 'a5414243', 'c1']) badMessage(t, rawFrame(name, hex), new RegExp(name));
  }
});

test('a msgpack extension value instead of a map is BAD_MESSAGE', (t) => {
  // A timestamp (ext -1): msgpackr decodes it to a Date, which is not a map.
  const timestamp = rawPackr.pack(new Date(0));
  for (const name of ['PING', 'WINNERS', 'HELLO'] as const)
    badMessage(t, { type: MessageType[name], payload: timestamp }, new RegExp(name));
});

test('a payload with bytes after its msgpack value is BAD_MESSAGE', (t) => {
  for (const message of [{ type: 'HELLO', agency: 3 }, { type: 'PING' }, { type: 'ACK', offset: 1 }] as Message[]) {
    const frame = encodeMessage(message);
    for (const extra of ['c0', '00', '80']) {
      const payload = Buffer.concat([frame.subarray(HEADER_SIZE), Buffer.from(extra, 'hex')]);
      badMessage(t, { type: frame[3], payload }, new RegExp(message.type));
    }
  }
});

test('an unknown type code handed to decodeMessage is BAD_FRAME', (t) => {
  const error = t.throws(() => decodeMessage({ type: 0x42, payload: rawPackr.pack({}) }), { instanceOf: ProtocolError });
  t.is(error?.code, ErrorCode.BAD_FRAME);
});

test('the payload of HELLO {agency: 3} is exactly the plain msgpack map 81 a6 "agency" 03', (t) => {
  const payload = encodeMessage({ type: 'HELLO', agency: 3 }).subarray(HEADER_SIZE);
  t.is(Buffer.from(payload).toString('hex'), `81a6${Buffer.from('agency').toString('hex')}03`);
});

test('payloads are plain msgpack: fixed maps, strings, arrays, no records extension', (t) => {
  const hex = (message: Message) => Buffer.from(encodeMessage(message).subarray(HEADER_SIZE)).toString('hex');
  const str = (s: string) => (0xa0 + Buffer.byteLength(s)).toString(16) + Buffer.from(s).toString('hex');
  t.is(hex({ type: 'PING' }), '80');
  t.is(hex({ type: 'ACK', offset: 300 }), `81${str('offset')}cd012c`);
  t.is(hex({ type: 'WELCOME', offset: 0, finished: true, drawn: false }), `83${str('offset')}00${str('finished')}c3${str('drawn')}c2`);
  t.is(
    hex({ type: 'BETS', offset: 5, bets: [['Ana', 'Paz', '1', '2000-01-01', 7]] }),
    `82${str('offset')}05${str('bets')}9195${str('Ana')}${str('Paz')}${str('1')}${str('2000-01-01')}07`,
  );
  t.is(hex({ type: 'RESULT', documents: ['12', '34'], last: true }), `82${str('documents')}92${str('12')}${str('34')}${str('last')}c3`);
  // The same shape sent twice is written the same way, not as a record reference.
  t.is(hex({ type: 'ACK', offset: 300 }), `81${str('offset')}cd012c`);
});

test('a fresh msgpackr unpack reads every payload as a plain object', (t) => {
  fc.assert(
    fc.property(anyMessage, (message) => {
      const { type, ...fields } = message;
      const value = unpack(encodeMessage(message).subarray(HEADER_SIZE));
      t.is(Object.getPrototypeOf(value), Object.prototype, type);
      t.deepEqual(value, fields);
    }),
    { seed: 42, numRuns: 300 },
  );
});

/** The documents of each RESULT frame, after checking every frame's size and `last`. */
function resultFrames(t: import('ava').ExecutionContext, documents: readonly string[]): string[][] {
  const encoded = encodeResult(documents);
  const decoded = encoded.map((frame) => {
    t.true(frame.length <= MAX_FRAME_SIZE, `a frame of ${frame.length} bytes`);
    const frames = new FrameDecoder().push(frame);
    t.is(frames.length, 1);
    return decodeAs(frames[0], 'RESULT');
  });
  t.deepEqual(
    decoded.map((message) => message.last),
    decoded.map((_, i) => i === decoded.length - 1),
  );
  t.deepEqual(
    decoded.flatMap((message) => message.documents),
    [...documents],
  );
  return decoded.map((message) => message.documents);
}

test('encodeResult splits a long document list over frames of at most 8192 bytes, only the last marked last', (t) => {
  const documents = Array.from({ length: 5000 }, (_, i) => String(1_000_000_000_000_000n + BigInt(i) * 7919n).slice(0, 16));
  const parts = resultFrames(t, documents);
  t.true(parts.length > 5);
  // Frames are filled: each but the last could not take the next document.
  for (const part of parts.slice(0, -1)) t.true(part.length > 400);
});

test('encodeResult of any document list keeps every frame within the cap and the documents in order', (t) => {
  fc.assert(
    fc.property(fc.array(fc.stringMatching(/^[0-9]{1,16}$/), { maxLength: 3000 }), (documents) => {
      resultFrames(t, documents);
    }),
    { seed: 42, numRuns: 60 },
  );
});

test('encodeResult of an empty list is one frame with last:true', (t) => {
  const frames = encodeResult([]);
  t.is(frames.length, 1);
  t.deepEqual(decodeMessage(new FrameDecoder().push(frames[0])[0]), { type: 'RESULT', documents: [], last: true });
});

test('encodeResult of exactly one frame of documents gives one frame', (t) => {
  t.deepEqual(resultFrames(t, ['1', '22', '333']), [['1', '22', '333']]);
});

test('no BETS frame made from a full batch exceeds 8192 bytes, even with the largest offset', (t) => {
  const worst: WireBet = ['ñ'.repeat(50), 'Ñ'.repeat(50), '9'.repeat(16), '2000-02-29', 9999];
  const streams: WireBet[][] = [Array.from({ length: 500 }, () => worst), generateBets({ seed: 5, count: 3000 })];
  for (const bets of streams) {
    const batcher = new Batcher(0);
    const batches: WireBet[][] = [];
    for (const bet of bets) {
      const batch = batcher.add(bet);
      if (batch) batches.push(batch.bets as WireBet[]);
    }
    const last = batcher.flush();
    if (last) batches.push(last.bets as WireBet[]);
    t.true(batches.length > 1);
    for (const batch of batches) {
      for (const offset of [0, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
        const frame = encodeMessage({ type: 'BETS', offset, bets: batch });
        t.true(frame.length <= MAX_FRAME_SIZE, `${frame.length} bytes`);
      }
    }
  }
});

test('encodeMessage refuses a message whose frame would exceed 8192 bytes', (t) => {
  t.throws(() => encodeMessage({ type: 'RESULT', documents: ['1'.repeat(MAX_FRAME_SIZE)], last: true }), { instanceOf: RangeError });
});

test('any payload bytes under any type either decode to a message or throw ProtocolError', (t) => {
  const typeName = fc.constantFrom(...(Object.keys(MessageType) as MessageName[]));
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc
      .anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true })
      .map((value) => anyValuePackr.pack(value)),
    // Plausible maps with the catalogue's field names and values of any type.
    fc
      .dictionary(
        fc.constantFrom(
          'agency',
          'offset',
          'bets',
          'total',
          'documents',
          'last',
          'finished',
          'drawn',
          'code',
          'message',
          'next',
          '__proto__',
        ),
        fc.anything({ withBigInt: true }),
      )
      .map((value) => anyValuePackr.pack(value)),
  );
  fc.assert(
    fc.property(typeName, payload, (name, bytes) => {
      try {
        const message = decodeMessage({ type: MessageType[name], payload: bytes });
        return message.type === name;
      } catch (error) {
        return error instanceof ProtocolError && error.code === ErrorCode.BAD_MESSAGE;
      }
    }),
    { seed: 42, numRuns: 2000 },
  );
  t.pass();
});

// Payloads built by hand, byte by byte: msgpackr's own extensions and shapes
// no message has are refused before anything decodes them.
const hexOf = (text: string) => Buffer.from(text).toString('hex');
const key = (name: string) => (0xa0 + name.length).toString(16) + hexOf(name);

test('every msgpack extension is refused as BAD_MESSAGE before it is decoded, wherever it sits', (t) => {
  const extensions = {
    'fixext 1': 'd40100',
    'fixext 2': 'd5010000',
    'fixext 4 (a timestamp)': 'd6ff00000000',
    'fixext 8': 'd7010000000000000000',
    'fixext 16': `d801${'00'.repeat(16)}`,
    'ext 8': 'c70101ff',
    'ext 16': 'c8000101ff',
    'ext 32': 'c900000001 01ff'.replace(' ', ''),
    // msgpackr's record definition (ext 0x72) and structured-clone reference (ext 0x70).
    'a record definition': `d47240`,
    'a structured-clone reference': 'd57000 00'.replace(' ', ''),
  };
  for (const [label, ext] of Object.entries(extensions)) {
    for (const payload of [ext, `81${key('agency')}${ext}`, `82${key('offset')}00${key('bets')}91${ext}`]) {
      for (const name of ['HELLO', 'BETS', 'PING', 'WINNERS'] as const) {
        badMessage(t, rawFrame(name, payload), new RegExp(`^${name} payload: a msgpack extension \\(0x[cd][0-9]\\) at byte \\d+$`));
      }
    }
    t.log(label, 'refused');
  }
});

test('map keys that are not strings, 0xc1, and maps of more than 16 entries are BAD_MESSAGE', (t) => {
  badMessage(t, rawFrame('HELLO', '810103'), /HELLO payload: a map key that is not a string at byte 1/);
  badMessage(t, rawFrame('HELLO', `8191${key('agency')}03`), /a map key that is not a string/);
  badMessage(t, rawFrame('HELLO', `81${key('agency')}c1`), /the never-used byte 0xc1/);
  const entries = (n: number) => Array.from({ length: n }, (_, i) => `${key(`k${String(i).padStart(4, '0')}`)}c0`).join('');
  badMessage(t, rawFrame('PING', `de0011${entries(17)}`), /PING payload: a map of 17 entries \(at most 16\)/);
  // 2,040 keys fill a frame: refused on its header, whatever follows.
  badMessage(t, rawFrame('PING', `de07f8${entries(2040)}`.slice(0, 2 * 8184)), /a map of 2040 entries/);
  t.deepEqual(decodeMessage(rawFrame('PING', `de0010${entries(16)}`)), { type: 'PING' });
});

test('nesting deeper than 8 levels is BAD_MESSAGE; 8 levels decode', (t) => {
  const nested = (levels: number) => `82${key('offset')}00${key('bets')}${'91'.repeat(levels - 1)}c0`;
  badMessage(t, rawFrame('BETS', nested(9)), /BETS payload: nesting deeper than 8 levels/);
  t.notThrows(() => {
    try {
      decodeMessage(rawFrame('BETS', nested(8)));
    } catch (error) {
      if (!(error instanceof ProtocolError) || !/BETS\.bets/.test(error.message)) throw error;
    }
  });
  badMessage(t, rawFrame('BETS', `${'91'.repeat(8000)}c0`), /nesting deeper than 8 levels at byte 8/);
});

test('lengths past the end of the payload are BAD_MESSAGE, checked before anything is read', (t) => {
  for (const hex of ['dcffff', 'ddffffffff', 'dbffffffff41', 'c6ffffffff', 'd9ff41', '9f', `81${key('agency')}`]) {
    badMessage(t, rawFrame('HELLO', hex), /HELLO payload: (a length past the end of the payload|the payload ends inside a value)/);
  }
});

test('PING, PONG and WINNERS are answered from a plain map without decoding it', (t) => {
  for (const name of ['PING', 'PONG', 'WINNERS'] as const) {
    t.deepEqual(decodeMessage(rawFrame(name, '80')), { type: name });
    t.deepEqual(decodeMessage(rawFrame(name, `81${key('x')}${key('y')}`)), { type: name });
    t.deepEqual(decodeMessage(rawFrame(name, 'de0000')), { type: name });
    badMessage(t, rawFrame(name, '90'), new RegExp(`${name} payload must be a map`));
  }
});

test('error messages stay short whatever the payload holds', (t) => {
  const long = rawPackr.pack({ agency: 'x'.repeat(8000) });
  const error = t.throws(() => decodeMessage({ type: MessageType.HELLO, payload: long }), { instanceOf: ProtocolError });
  t.true((error?.message.length ?? Infinity) < 100, error?.message);
});

test('HELLO may ask for progress, and WAITING says how many agencies have finished', (t) => {
  const decode = (message: Message) => decodeMessage(new FrameDecoder().push(encodeMessage(message))[0]);
  t.deepEqual(decode({ type: 'HELLO', agency: 2, progress: true }), { type: 'HELLO', agency: 2, progress: true });
  t.deepEqual(decode({ type: 'HELLO', agency: 2 }), { type: 'HELLO', agency: 2 });
  t.deepEqual(decode({ type: 'WAITING', finished: 3, agencies: 5 }), { type: 'WAITING', finished: 3, agencies: 5 });
  badMessage(t, frameOf('HELLO', { agency: 2, progress: 'yes' }), /HELLO\.progress must be a boolean/);
  badMessage(t, frameOf('WAITING', { finished: -1, agencies: 5 }), /WAITING\.finished/);
  badMessage(t, frameOf('WAITING', { finished: 1 }), /WAITING\.agencies/);
});
