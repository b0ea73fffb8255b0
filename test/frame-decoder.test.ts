import test from 'ava';
import fc from 'fast-check';
import { seededRandom } from '../src/bets/bet-generator.ts';
import { encodeMessage } from '../src/wire/codec.ts';
import { HEADER_SIZE, MAX_FRAME_SIZE, MAX_PAYLOAD_SIZE, PROTOCOL_VERSION, type Frame } from '../src/wire/frame.ts';
import { FrameDecoder } from '../src/wire/frame-decoder.ts';
import type { Message } from '../src/wire/messages.ts';
import { ErrorCode, ProtocolError } from '../src/errors.ts';
import { chunksOf } from './helpers/byte-chunks.ts';

/** A stream of many frames of every size class, from empty payloads to full ones. */
function sampleMessages(): Message[] {
  const messages: Message[] = [{ type: 'HELLO', agency: 3 }, { type: 'PING' }, { type: 'WINNERS' }];
  for (let i = 0; i < 40; i++) {
    const bets = Array.from(
      { length: 1 + ((i * 7) % 30) },
      (_, j) =>
        ['Zoë', 'Núñez', String(10_000_000 + i * 100 + j), '1990-01-01', (i * j) % 10_000] as [string, string, string, string, number],
    );
    messages.push({ type: 'BETS', offset: i * 30, bets }, { type: 'ACK', offset: i * 30 + bets.length });
  }
  // A frame of exactly the largest size allowed: a str16 header is 2 bytes longer than the empty string's.
  const base = encodeMessage({ type: 'RESULT', documents: [''], last: true }).length;
  const big: Message = { type: 'RESULT', documents: ['y'.repeat(MAX_FRAME_SIZE - base - 2)], last: true };
  messages.push(big, { type: 'FINISH', total: 1234, digest: 'ab'.repeat(32) }, { type: 'PONG' });
  return messages;
}

const messages = sampleMessages();
const frames = messages.map(encodeMessage);
const stream = Buffer.concat(frames);

/** Copies frames out: the decoder may return views into its input. */
const plain = (decoded: Frame[]) => decoded.map(({ type, payload }) => ({ type, payload: Buffer.from(payload).toString('hex') }));

const expected = frames.map((frame) => ({ type: frame[3], payload: Buffer.from(frame.subarray(HEADER_SIZE)).toString('hex') }));

function feed(decoder: FrameDecoder, chunks: Iterable<Uint8Array>): ReturnType<typeof plain> {
  const out: ReturnType<typeof plain> = [];
  for (const chunk of chunks) {
    out.push(...plain(decoder.push(chunk)));
    if (decoder.buffered > MAX_FRAME_SIZE) throw new Error(`buffered ${decoder.buffered} bytes`);
  }
  return out;
}

/** A frame header with any fields, for frames the decoder must refuse. */
function header(fields: { magic?: number; version?: number; type?: number; length?: number }): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, fields.magic ?? 0x4c54);
  view.setUint8(2, fields.version ?? PROTOCOL_VERSION);
  view.setUint8(3, fields.type ?? 0x01);
  view.setUint32(4, fields.length ?? 0);
  return bytes;
}

function throwsBadFrame(t: import('ava').ExecutionContext, run: () => unknown, message?: RegExp): void {
  const error = t.throws(run, { instanceOf: ProtocolError });
  t.is((error as ProtocolError).code, ErrorCode.BAD_FRAME);
  if (message !== undefined) t.regex(error!.message, message);
}

test('the sample stream holds frames of many sizes up to a full 8192-byte one', (t) => {
  t.true(frames.length > 80);
  t.is(Math.max(...frames.map((frame) => frame.length)), MAX_FRAME_SIZE);
});

test('decodes a stream of many frames fed whole', (t) => {
  t.deepEqual(feed(new FrameDecoder(), [stream]), expected);
});

test('decodes a stream of many frames fed one byte at a time', (t) => {
  const decoder = new FrameDecoder();
  t.deepEqual(
    feed(
      decoder,
      chunksOf(stream, () => 1),
    ),
    expected,
  );
  t.is(decoder.buffered, 0);
});

test('decodes a stream of many frames fed in random chunk sizes', (t) => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    const random = seededRandom(seed);
    const decoder = new FrameDecoder();
    t.deepEqual(
      feed(
        decoder,
        chunksOf(stream, () => 1 + Math.floor(random() * 3 * MAX_FRAME_SIZE)),
      ),
      expected,
      `seed ${seed}`,
    );
    t.is(decoder.buffered, 0);
  }
});

test('decodes a stream cut into small chunks that often end inside a header', (t) => {
  const random = seededRandom(7);
  const decoder = new FrameDecoder();
  // Small chunks that often end inside a header.
  t.deepEqual(
    feed(
      decoder,
      chunksOf(stream, () => 1 + Math.floor(random() * 12)),
    ),
    expected,
  );
});

test('decodes several frames that arrive in one chunk', (t) => {
  const decoder = new FrameDecoder();
  const three = Buffer.concat([
    encodeMessage({ type: 'PING' }),
    encodeMessage({ type: 'HELLO', agency: 2 }),
    encodeMessage({ type: 'ACK', offset: 5 }),
  ]);
  const decoded = decoder.push(three);
  t.deepEqual(
    decoded.map((frame) => frame.type),
    [0x08, 0x01, 0x04],
  );
  t.is(decoder.buffered, 0);
});

test('finishes a pending frame and decodes the whole frames after it in the same chunk', (t) => {
  const decoder = new FrameDecoder();
  const first = encodeMessage({ type: 'HELLO', agency: 9 });
  t.deepEqual(decoder.push(first.subarray(0, 5)), []);
  t.is(decoder.buffered, 5);
  const ping = encodeMessage({ type: 'PING' });
  const rest = Buffer.concat([first.subarray(5), ping, encodeMessage({ type: 'PONG' }).subarray(0, 3)]);
  t.deepEqual(
    plain(decoder.push(rest)),
    plain([
      { type: 0x01, payload: first.subarray(HEADER_SIZE) },
      { type: 0x08, payload: ping.subarray(HEADER_SIZE) },
    ]),
  );
  t.is(decoder.buffered, 3);
});

test('a frame returned from the pending buffer is not overwritten by the next frame', (t) => {
  const decoder = new FrameDecoder();
  const a = encodeMessage({ type: 'HELLO', agency: 1 });
  const b = encodeMessage({ type: 'HELLO', agency: 2 });
  const out: Frame[] = [];
  for (const chunk of chunksOf(Buffer.concat([a, b]), () => 1)) out.push(...decoder.push(chunk));
  t.deepEqual(
    out.map((frame) => Buffer.from(frame.payload).toString('hex')),
    [Buffer.from(a.subarray(HEADER_SIZE)).toString('hex'), Buffer.from(b.subarray(HEADER_SIZE)).toString('hex')],
  );
});

test('a bad magic throws ProtocolError BAD_FRAME', (t) => {
  throwsBadFrame(t, () => new FrameDecoder().push(header({ magic: 0x4c55 })), /magic/);
  throwsBadFrame(t, () => new FrameDecoder().push(Buffer.from('GET / HTTP/1.1\r\n')), /magic/);
});

test('a bad version throws ProtocolError BAD_FRAME', (t) => {
  throwsBadFrame(t, () => new FrameDecoder().push(header({ version: PROTOCOL_VERSION + 1 })), /version/);
  // Version 1's FINISH digest meant another thing: its frames are refused, not misread.
  throwsBadFrame(t, () => new FrameDecoder().push(header({ version: 1 })), /version 1, expected 2/);
  throwsBadFrame(t, () => new FrameDecoder().push(header({ version: 0 })), /version/);
});

test('an unknown message type throws ProtocolError BAD_FRAME', (t) => {
  for (const type of [0x00, 0x0a, 0x0e, 0x12, 0xff]) {
    throwsBadFrame(t, () => new FrameDecoder().push(header({ type })), /type/);
  }
});

test('a bad header that arrives byte by byte throws as soon as its eight bytes are in', (t) => {
  const decoder = new FrameDecoder();
  const bad = header({ type: 0x42, length: 0 });
  for (let i = 0; i < HEADER_SIZE - 1; i++) t.deepEqual(decoder.push(bad.subarray(i, i + 1)), []);
  throwsBadFrame(t, () => decoder.push(bad.subarray(HEADER_SIZE - 1)), /type/);
});

test('a bad header after good frames in the same chunk throws', (t) => {
  const decoder = new FrameDecoder();
  throwsBadFrame(t, () => decoder.push(Buffer.concat([encodeMessage({ type: 'PING' }), header({ magic: 0 })])), /magic/);
});

test('pushLazily gives the frames push gives, counted up front, every header checked before any frame is taken', (t) => {
  for (const seed of [7, 8, 9]) {
    const random = seededRandom(seed);
    const decoder = new FrameDecoder();
    const out: ReturnType<typeof plain> = [];
    for (const chunk of chunksOf(stream, () => 1 + Math.floor(random() * 3 * MAX_FRAME_SIZE))) {
      const lazy = decoder.pushLazily(chunk);
      const taken = [...lazy];
      t.is(lazy.length, taken.length);
      // Taken again, the same frames: they are made from the chunk, not consumed.
      t.deepEqual(plain([...lazy]), plain(taken));
      out.push(...plain(taken));
    }
    t.deepEqual(out, expected, `seed ${seed}`);
  }
  const decoder = new FrameDecoder();
  throwsBadFrame(t, () => decoder.pushLazily(Buffer.concat([encodeMessage({ type: 'PING' }), header({ magic: 0 })])), /magic/);
});

test('a payload length of exactly 8184 bytes is accepted', (t) => {
  const decoder = new FrameDecoder();
  t.deepEqual(decoder.push(header({ type: 0x07, length: MAX_PAYLOAD_SIZE })), []);
  t.is(decoder.buffered, HEADER_SIZE);
  const frames = decoder.push(new Uint8Array(MAX_PAYLOAD_SIZE));
  t.is(frames.length, 1);
  t.is(frames[0].payload.length, MAX_PAYLOAD_SIZE);
  t.is(decoder.buffered, 0);
});

test('a length over the 8184-byte payload cap throws as soon as the header is whole, before any payload', (t) => {
  for (const length of [MAX_PAYLOAD_SIZE + 1, 65_536, 0xffffffff]) {
    // Header alone, in one chunk.
    throwsBadFrame(t, () => new FrameDecoder().push(header({ length })), /length/);
    // Header byte by byte: nothing until the eighth byte, which throws.
    const decoder = new FrameDecoder();
    const bytes = header({ length });
    for (let i = 0; i < HEADER_SIZE - 1; i++) {
      t.deepEqual(decoder.push(bytes.subarray(i, i + 1)), []);
      t.true(decoder.buffered <= MAX_FRAME_SIZE);
    }
    throwsBadFrame(t, () => decoder.push(bytes.subarray(HEADER_SIZE - 1)), /length/);
    t.true(decoder.buffered <= HEADER_SIZE);
    // Header behind a partial frame: still refused when its last byte arrives.
    const behind = new FrameDecoder();
    const ping = encodeMessage({ type: 'HELLO', agency: 1 });
    behind.push(ping.subarray(0, 4));
    throwsBadFrame(t, () => behind.push(Buffer.concat([ping.subarray(4), bytes])), /length/);
  }
});

test('buffered never exceeds one frame however the bytes arrive', (t) => {
  const random = seededRandom(99);
  const decoder = new FrameDecoder();
  let most = 0;
  for (const chunk of chunksOf(stream, () => 1 + Math.floor(random() * 20_000))) {
    decoder.push(chunk);
    most = Math.max(most, decoder.buffered);
  }
  t.true(most <= MAX_FRAME_SIZE);
  t.true(most > 0);
});

test('arbitrary bytes either decode into frames or throw ProtocolError, never anything else', (t) => {
  const validFrame = fc.constantFrom(...frames.slice(0, 20));
  // Mostly-valid streams, so that the property reaches past the magic.
  const streamBytes = fc.oneof(
    fc.uint8Array({ maxLength: 20_000 }),
    fc
      .tuple(
        fc.array(validFrame, { maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.uint8Array({ maxLength: 40 }),
      )
      .map(([good, flips, tail]) => {
        const bytes = Buffer.concat([...good, tail]);
        for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
        return new Uint8Array(bytes);
      }),
    fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 9000 }))
      .map(([length, type, rest]) => Buffer.concat([header({ type, length }), rest])),
  );
  const chunkSizes = fc.array(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 20 });
  fc.assert(
    fc.property(streamBytes, chunkSizes, (bytes, sizes) => {
      const decoder = new FrameDecoder();
      let i = 0;
      try {
        for (const chunk of chunksOf(bytes, () => sizes[i++ % sizes.length])) {
          for (const frame of decoder.push(chunk)) {
            if (frame.payload.length > MAX_PAYLOAD_SIZE) return false;
          }
          if (decoder.buffered > MAX_FRAME_SIZE) return false;
        }
      } catch (error) {
        return error instanceof ProtocolError && error.code === ErrorCode.BAD_FRAME;
      }
      return true;
    }),
    { seed: 42, numRuns: 500 },
  );
  t.pass();
});
