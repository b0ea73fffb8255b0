// Frames a hostile peer sends, written byte by byte (never through the
// project's encoder, which would refuse to write most of them): for the tests
// of hostile input and the hostile benchmark. Each is at most 8,192 bytes,
// the frame cap, and each is the worst of its kind that fits.

import { MessageType } from '../wire/message-type.ts';
import { PROTOCOL_VERSION } from '../wire/frame.ts';

const bytes = (...parts: Array<number | Uint8Array | number[]>): Uint8Array =>
  Buffer.concat(parts.map((part) => (typeof part === 'number' ? Buffer.from([part]) : Buffer.from(part))));

/** A msgpack string, as fixstr, str8 or str16. */
export function str(text: string | Uint8Array): Uint8Array {
  const body = typeof text === 'string' ? Buffer.from(text) : text;
  if (body.length < 32) return bytes(0xa0 | body.length, body);
  if (body.length < 256) return bytes(0xd9, body.length, body);
  return bytes(0xda, body.length >> 8, body.length & 0xff, body);
}

/** An unsigned integer as msgpack: fixint or uint32. */
export function uint(value: number): Uint8Array {
  if (value < 0x80) return bytes(value);
  return bytes(0xce, (value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** An array header for `count` items: fixarray or array16. */
export function arrayHeader(count: number): Uint8Array {
  return count < 16 ? bytes(0x90 | count) : bytes(0xdc, count >> 8, count & 0xff);
}

/** A map header for `count` entries: fixmap or map16. */
export function mapHeader(count: number): Uint8Array {
  return count < 16 ? bytes(0x80 | count) : bytes(0xde, count >> 8, count & 0xff);
}

/** A whole frame: the 8-byte header and `payload`. */
export function frame(type: keyof typeof MessageType, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  return bytes(
    0x4c,
    0x54,
    PROTOCOL_VERSION,
    MessageType[type],
    (length >>> 24) & 0xff,
    (length >>> 16) & 0xff,
    (length >>> 8) & 0xff,
    length & 0xff,
    payload,
  );
}

export const hello = (agency: number) => frame('HELLO', bytes(mapHeader(1), str('agency'), uint(agency)));
export const ping = () => frame('PING', bytes(0x80));

/** The bytes of a BETS frame around its list of bets, the list's header included, at most. */
const BETS_ENVELOPE = 8 + 1 + 7 + 5 + 5 + 3;

/** A BETS frame at `offset` whose bets are already msgpack (the array header included). */
export const betsFrame = (offset: number, betsArray: Uint8Array) =>
  frame('BETS', bytes(mapHeader(2), str('offset'), uint(offset), str('bets'), betsArray));

/** One bet, as an agency sends it: a five-item array. */
export function bet(firstName: string | Uint8Array, lastName = 'Paz', document = '1', birthdate = '2000-01-01', number = 1): Uint8Array {
  return bytes(0x95, str(firstName), str(lastName), str(document), str(birthdate), uint(number));
}

/**
 * msgpackr's structured-clone references, nested `levels` deep: each level is
 * an array of two references to the level below (ext 0x69 defines an object
 * by id, ext 0x70 refers to it again). Decoded with the extension on and
 * shown, it doubles per level: 24 levels are 16 million copies of the string.
 */
export function sharedReferenceBomb(levels = 24): Uint8Array {
  const id = (n: number) => [0, 0, n >> 8, n & 0xff];
  const open: number[] = [];
  const close: number[] = [];
  for (let level = levels; level >= 1; level--) {
    open.push(0x92, 0xd6, 0x69, ...id(level));
    close.unshift(0xd6, 0x70, ...id(level));
  }
  // The innermost value: an array with one short string (365 bytes in all, in a BETS frame, at 24 levels).
  return bytes(open, 0x91, str('x'.repeat(9)), close);
}

/** A BETS frame whose first bet's first name is the shared-reference bomb. */
export const sharedReferenceBets = (levels = 24) =>
  betsFrame(0, bytes(0x91, 0x95, sharedReferenceBomb(levels), str('Paz'), str('1'), str('2000-01-01'), 1));

/** A map of `count` distinct two-character keys, each with nil: 2,040 fill a frame. */
export function manyKeysMap(count = 2040): Uint8Array {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const entries: Uint8Array[] = [];
  for (let i = 0; i < count; i++) entries.push(str(alphabet[Math.floor(i / alphabet.length)] + alphabet[i % alphabet.length]), bytes(0xc0));
  return bytes(mapHeader(count), ...entries);
}

/** Arrays nested `levels` deep in a BETS payload. */
export const deepBets = (levels = 8000) => betsFrame(0, bytes(new Array(levels).fill(0x91), 0xc0));

/**
 * A BETS frame as full as it gets of the smallest bets, every one valid but
 * the last, whose first name ends in a bidi override: the fast path reads
 * them all before it declines, the general path decodes and checks them all
 * and describes the last.
 */
export function lastBetInvalid(offset: number): { frame: Uint8Array; count: number } {
  const good = bet('A', 'B', '1', '2000-01-01', 1);
  const bad = bet(`${'A'.repeat(97)}\u202e`);
  const count = Math.floor((8192 - BETS_ENVELOPE - bad.length) / good.length) + 1;
  const list = bytes(arrayHeader(count), ...new Array(count - 1).fill(good), bad);
  return { frame: betsFrame(offset, list), count };
}

/** A BETS frame of as many empty bets as fit: INVALID_BET at the first, after decoding them all. */
export function emptyBets(offset: number): { frame: Uint8Array; count: number } {
  const count = 8192 - BETS_ENVELOPE;
  return { frame: betsFrame(offset, bytes(arrayHeader(count), new Array(count).fill(0x90))), count };
}

/** One bet whose first name is as long as a frame allows, of C1 controls: refused, and shown escaped. */
export function longControlName(offset: number): { frame: Uint8Array; count: number } {
  const name = Buffer.from('\u0085'.repeat(4000));
  return { frame: betsFrame(offset, bytes(0x91, bet(name))), count: 1 };
}

/** A PING whose map holds 16 arrays of small integers, filling the frame: plain, so checked and not decoded. */
export function heavyPlainPing(): Uint8Array {
  // The map16 header, then per entry a 3-byte key and an array16 header.
  const perArray = Math.floor((8184 - 3) / 16) - 6;
  const entries: Uint8Array[] = [];
  for (let i = 0; i < 16; i++) entries.push(str(`k${i.toString(16)}`), arrayHeader(perArray), new Uint8Array(perArray));
  return frame('PING', bytes(mapHeader(16), ...entries));
}

/** A name that is not UTF-8 (an overlong '/'), in an otherwise good bet. */
export const invalidUtf8Bets = (offset: number) => betsFrame(offset, bytes(0x91, bet(Uint8Array.from([0x41, 0xc0, 0xaf, 0x41]))));
