// An agency's bets file read straight from its bytes into BETS frames, for
// the file nearly every agency has: every line plain (no quote, no carriage
// return but before its newline), every row a valid bet whose names are
// printable Latin-1 (ASCII, or U+00A0 to U+00FF in UTF-8). For such a row the
// msgpack encoding of the bet and its canonical line are its fields' bytes,
// each behind a header or a TAB: no string, array or object is made for it,
// and the file costs a scan of its bytes instead of a parse, a check and an
// encoding of each row (most of an agency's CPU a row, run cold in a process
// that lives for a second).
//
// At the first row that is not that (a quoted field, a row the checks refuse,
// a name in another script) the answer is undefined, and the agency reads the
// file the general way (csv-rows.ts, bet.ts, Batcher), which also says what
// is wrong with it. What this accepts, the general way reads into the same
// frames and the same canonical lines: test/plain-file.test.ts checks it on
// generated and hostile files.

import { daysInMonth, DOCUMENT_MAX_DIGITS, NAME_MAX_BYTES } from '../bets/bet.ts';
import { BETS_BUDGET, betsFrame, type BetsBatch } from './batcher.ts';

/** A plain file's rows, and its batches from offset 0 on, each with its frame and canonical lines. */
export type PlainFile = { rows: number; batches: BetsBatch[] };

const NEWLINE = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const TAB = 0x09;
const DASH = 0x2d;
const ZERO = 0x30;
/** The most bytes one row adds to the canonical lines beyond its own: the agency id, the TABs, the newline. */
const ROW_EXTRA = 16;

/**
 * The batches the general way would make of `bytes` (Batcher with
 * `maxAmount`, numbered from 0) for agency `agency`, with `today` as the
 * latest birthdate; undefined if any row is not plain and valid.
 */
export function plainFileBatches(bytes: Uint8Array, agency: number, maxAmount: number, today: string): PlainFile | undefined {
  const prefix = Buffer.from(`${agency}\t`, 'latin1');
  const latest = Buffer.from(today, 'latin1');
  const encoded = Buffer.allocUnsafe(BETS_BUDGET);
  let encodedEnd = 0;
  let canonical = Buffer.allocUnsafe(2 * BETS_BUDGET);
  let canonicalEnd = 0;
  const batches: BetsBatch[] = [];
  let count = 0;
  let rows = 0;
  // Where each of a row's five fields starts and ends.
  const starts = [0, 0, 0, 0, 0];
  const ends = [0, 0, 0, 0, 0];

  const end = bytes.length;
  let at = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (at < end) {
    let lineEnd = bytes.indexOf(NEWLINE, at);
    if (lineEnd < 0) lineEnd = end;
    const next = lineEnd + 1;
    if (lineEnd > at && bytes[lineEnd - 1] === CR) lineEnd--;
    if (lineEnd === at) {
      // An empty line is no row.
      at = next;
      continue;
    }
    let field = 0;
    starts[0] = at;
    for (let i = at; i < lineEnd; i++) {
      const byte = bytes[i];
      if (byte === COMMA) {
        if (field === 4) return undefined;
        ends[field++] = i;
        starts[field] = i + 1;
      } else if (byte === QUOTE || byte === CR) {
        return undefined;
      }
    }
    if (field !== 4) return undefined;
    ends[4] = lineEnd;
    const number = digits(bytes, starts[4], ends[4], 4);
    if (
      !plainName(bytes, starts[0], ends[0]) ||
      !plainName(bytes, starts[1], ends[1]) ||
      digits(bytes, starts[2], ends[2], DOCUMENT_MAX_DIGITS) < 0 ||
      !pastDate(bytes, starts[3], ends[3], latest) ||
      number < 0
    ) {
      return undefined;
    }

    // msgpack: an array of five, four strings (fixstr, or str8 from 32 bytes) and the number.
    let size = 1 + (number < 0x80 ? 1 : number < 0x100 ? 2 : 3);
    for (let f = 0; f < 4; f++) size += (ends[f] - starts[f] < 32 ? 1 : 2) + ends[f] - starts[f];
    if (count > 0 && encodedEnd + size > BETS_BUDGET) {
      batches.push(batchOf(rows - count, count, encoded, encodedEnd, canonical, canonicalEnd));
      count = encodedEnd = canonicalEnd = 0;
    }
    encoded[encodedEnd++] = 0x95;
    for (let f = 0; f < 4; f++) {
      const length = ends[f] - starts[f];
      if (length < 32) {
        encoded[encodedEnd++] = 0xa0 | length;
      } else {
        encoded[encodedEnd++] = 0xd9;
        encoded[encodedEnd++] = length;
      }
      encodedEnd = copy(bytes, starts[f], ends[f], encoded, encodedEnd);
    }
    if (number < 0x80) {
      encoded[encodedEnd++] = number;
    } else if (number < 0x100) {
      encoded[encodedEnd++] = 0xcc;
      encoded[encodedEnd++] = number;
    } else {
      encoded[encodedEnd++] = 0xcd;
      encoded[encodedEnd++] = number >> 8;
      encoded[encodedEnd++] = number & 0xff;
    }

    // The canonical line: <agency>\t<first>\t<last>\t<document>\t<birthdate>\t<number>\n.
    if (canonicalEnd + prefix.length + (lineEnd - at) + ROW_EXTRA > canonical.length) {
      const larger = Buffer.allocUnsafe(2 * canonical.length);
      canonical.copy(larger, 0, 0, canonicalEnd);
      canonical = larger;
    }
    canonicalEnd = copy(prefix, 0, prefix.length, canonical, canonicalEnd);
    for (let f = 0; f < 4; f++) {
      canonicalEnd = copy(bytes, starts[f], ends[f], canonical, canonicalEnd);
      canonical[canonicalEnd++] = TAB;
    }
    // The number in plain decimal: "0042" is 42.
    if (number >= 1000) canonical[canonicalEnd++] = ZERO + Math.floor(number / 1000);
    if (number >= 100) canonical[canonicalEnd++] = ZERO + (Math.floor(number / 100) % 10);
    if (number >= 10) canonical[canonicalEnd++] = ZERO + (Math.floor(number / 10) % 10);
    canonical[canonicalEnd++] = ZERO + (number % 10);
    canonical[canonicalEnd++] = NEWLINE;

    rows++;
    count++;
    if (count === maxAmount) {
      batches.push(batchOf(rows - count, count, encoded, encodedEnd, canonical, canonicalEnd));
      count = encodedEnd = canonicalEnd = 0;
    }
    at = next;
  }
  if (count > 0) batches.push(batchOf(rows - count, count, encoded, encodedEnd, canonical, canonicalEnd));
  return { rows, batches };
}

/**
 * A batch of the `count` bets from `offset` whose encodings and canonical
 * lines the buffers hold up to their ends: copies, for the buffers go on.
 * (Not a closure over the scan's variables: those would live on the heap,
 * and the scan would load and store each of them there a byte at a time.)
 */
function batchOf(offset: number, count: number, encoded: Buffer, encodedEnd: number, canonical: Buffer, canonicalEnd: number): BetsBatch {
  return {
    offset,
    count,
    bets: [],
    frame: betsFrame(offset, count, encoded.subarray(0, encodedEnd)),
    canonical: Uint8Array.prototype.slice.call(canonical, 0, canonicalEnd),
  };
}

/**
 * Copies bytes `start` to `end` of `source` to `target` at `at`; where they
 * end. A field is a few bytes: a loop costs less than a subarray (an object)
 * and a copy in C++.
 */
function copy(source: Uint8Array, start: number, end: number, target: Uint8Array, at: number): number {
  for (let i = start; i < end; i++) target[at++] = source[i];
  return at;
}

/**
 * Whether bet.ts's plainLatinName holds for the UTF-8 text of bytes
 * `start` to `end`: printable Latin-1 (U+0080 to U+009F and the soft hyphen
 * are not), at least one character that is not a space (U+0020, U+00A0),
 * the first of them not =, +, - or @, and at most NAME_MAX_BYTES / 2
 * characters. Any other byte (another script, text that is not UTF-8) is a
 * name for bet.ts to judge.
 */
function plainName(bytes: Uint8Array, start: number, end: number): boolean {
  let characters = 0;
  let visible = false;
  for (let at = start; at < end; at++) {
    let code = bytes[at];
    if (code >= 0x80) {
      const next = bytes[at + 1];
      if ((code !== 0xc2 && code !== 0xc3) || at + 1 >= end || next < 0x80 || next > 0xbf) return false;
      code = code === 0xc2 ? next : next + 0x40;
      at++;
    }
    characters++;
    if (code === 0x20 || code === 0xa0) continue;
    if ((code > 0x20 && code < 0x7f) || (code > 0xa0 && code !== 0xad)) {
      if (!visible && (code === 0x3d || code === 0x2b || code === 0x2d || code === 0x40)) return false;
      visible = true;
    } else {
      return false;
    }
  }
  return visible && characters <= NAME_MAX_BYTES / 2;
}

/** The number the 1 to `most` ASCII digits from `start` to `end` write; -1 for anything else. */
function digits(bytes: Uint8Array, start: number, end: number, most: number): number {
  if (end === start || end - start > most) return -1;
  let value = 0;
  for (let at = start; at < end; at++) {
    const digit = bytes[at] - ZERO;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** Whether bytes `start` to `end` are a real date as YYYY-MM-DD, from year 1 on and not after `latest`. */
function pastDate(bytes: Uint8Array, start: number, end: number, latest: Uint8Array): boolean {
  if (end - start !== 10 || bytes[start + 4] !== DASH || bytes[start + 7] !== DASH) return false;
  const year = digits(bytes, start, start + 4, 4);
  const month = digits(bytes, start + 5, start + 7, 2);
  const day = digits(bytes, start + 8, start + 10, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  // YYYY-MM-DD compares as its bytes do.
  for (let i = 0; i < 10; i++) {
    const byte = bytes[start + i];
    if (byte !== latest[i]) return byte < latest[i];
  }
  return true;
}
