import { daysInMonth, DOCUMENT_MAX_DIGITS, NAME_MAX_BYTES, NUMBER_MAX } from './bet.ts';

// The fast path for the one message that carries volume: a BETS payload read
// straight from the frame's bytes into canonical lines (see canonical-bet.ts),
// with no string, array or object per bet. The general path is msgpackr's
// decode, validateBet and encodeCanonicalLines; this one accepts only what it
// can prove the general path accepts and would write byte for byte the same.
// On anything else (another msgpack encoding of the same values, a name with
// a `"` or `,` (rare: left to the general path so that this one stays the
// plain case bets.csv writes unquoted) or not plain enough to judge here, any bet the general path would refuse) it
// answers undefined and the caller takes the general path, which gives the
// errors. The tests feed both the same payloads and check that they agree.

export type BetRows = { offset: number; count: number; rows: Uint8Array };

const COMMA = 0x2c;
const TAB = 0x09;
const NEWLINE = 0x0a;
const KEY_OFFSET = Buffer.from('offset');
const KEY_BETS = Buffer.from('bets');
/** The smallest bet: fixarray, three one-byte strings, a ten-byte date, a fixint. */
const MIN_BET_BYTES = 1 + 3 * 2 + 11 + 1;

/** Reused for every batch on this thread; each answer gets its own copy. */
let scratch = new Uint8Array(16 * 1024);

/**
 * The rows of a BETS payload whose bets are all valid and plainly encoded,
 * with the batch's offset and bet count; undefined when the general path must
 * decide. `today` is todayUtc(): no birthdate may be after it.
 */
export function betRowsFromPayload(payload: Uint8Array, agency: number, today: string): BetRows | undefined {
  const reader = new PayloadReader(payload);
  if (reader.fixMapLength() !== 2) return undefined;
  let offset = -1;
  let rows: Uint8Array | undefined;
  let count = 0;
  for (let entry = 0; entry < 2; entry++) {
    const key = reader.string();
    if (key < 0) return undefined;
    if (offset < 0 && reader.equals(key, KEY_OFFSET)) {
      offset = reader.unsigned(0xffffffff);
      if (offset < 0) return undefined;
    } else if (rows === undefined && reader.equals(key, KEY_BETS)) {
      count = reader.arrayLength();
      if (count <= 0 || count * MIN_BET_BYTES > payload.length) return undefined;
      rows = reader.rows(count, agency, today);
      if (rows === undefined) return undefined;
    } else {
      return undefined;
    }
  }
  if (reader.at !== payload.length || rows === undefined) return undefined;
  return { offset, count, rows };
}

class PayloadReader {
  readonly #bytes: Uint8Array;
  at = 0;
  /** Where the last string read starts; string() returns its length. */
  #start = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  fixMapLength(): number {
    const head = this.#bytes[this.at];
    if (head < 0x80 || head > 0x8f) return -1;
    this.at++;
    return head & 0x0f;
  }

  arrayLength(): number {
    const bytes = this.#bytes;
    const head = bytes[this.at];
    if (head >= 0x90 && head <= 0x9f) {
      this.at++;
      return head & 0x0f;
    }
    if (head === 0xdc && this.at + 3 <= bytes.length) {
      const length = (bytes[this.at + 1] << 8) | bytes[this.at + 2];
      this.at += 3;
      return length;
    }
    return -1;
  }

  /** A positive fixint, uint8, uint16 or uint32 up to `max`; -1 for anything else. */
  unsigned(max: number): number {
    const bytes = this.#bytes;
    const at = this.at;
    const head = bytes[at];
    let value: number;
    if (head <= 0x7f) {
      value = head;
      this.at = at + 1;
    } else if (head === 0xcc && at + 2 <= bytes.length) {
      value = bytes[at + 1];
      this.at = at + 2;
    } else if (head === 0xcd && at + 3 <= bytes.length) {
      value = (bytes[at + 1] << 8) | bytes[at + 2];
      this.at = at + 3;
    } else if (head === 0xce && at + 5 <= bytes.length) {
      value = ((bytes[at + 1] << 24) >>> 0) + ((bytes[at + 2] << 16) | (bytes[at + 3] << 8) | bytes[at + 4]);
      this.at = at + 5;
    } else {
      return -1;
    }
    return value <= max ? value : -1;
  }

  /** A fixstr, str8 or str16 that fits the payload: its length (its start in #start), or -1. */
  string(): number {
    const bytes = this.#bytes;
    const at = this.at;
    const head = bytes[at];
    let length: number;
    let start: number;
    if (head >= 0xa0 && head <= 0xbf) {
      length = head & 0x1f;
      start = at + 1;
    } else if (head === 0xd9 && at + 2 <= bytes.length) {
      length = bytes[at + 1];
      start = at + 2;
    } else if (head === 0xda && at + 3 <= bytes.length) {
      length = (bytes[at + 1] << 8) | bytes[at + 2];
      start = at + 3;
    } else {
      return -1;
    }
    if (start + length > bytes.length) return -1;
    this.#start = start;
    this.at = start + length;
    return length;
  }

  /** Whether the last string read, of `length` bytes, is `expected`. */
  equals(length: number, expected: Uint8Array): boolean {
    if (length !== expected.length) return false;
    for (let i = 0; i < length; i++) if (this.#bytes[this.#start + i] !== expected[i]) return false;
    return true;
  }

  /** Reads `count` bets and writes their rows; undefined at the first one the fast path cannot take. */
  rows(count: number, agency: number, today: string): Uint8Array | undefined {
    const bytes = this.#bytes;
    const prefix = Buffer.from(`${agency}\t`);
    // A row never outgrows its bet by more than this: the agency and TAB
    // replace nothing, and a fixint number can grow to four digits.
    const bound = bytes.length - this.at + count * (prefix.length + 3);
    if (scratch.length < bound) scratch = new Uint8Array(bound);
    const out = scratch;
    let w = 0;
    for (let bet = 0; bet < count; bet++) {
      if (bytes[this.at++] !== 0x95) return undefined;
      for (let i = 0; i < prefix.length; i++) out[w++] = prefix[i];
      for (let field = 0; field < 2; field++) {
        const length = this.string();
        if (length < 0 || !this.#plainName(length)) return undefined;
        w = this.#copy(out, w);
        out[w++] = TAB;
      }
      const document = this.string();
      if (document < 1 || document > DOCUMENT_MAX_DIGITS || !this.#digits(this.#start, this.at)) return undefined;
      w = this.#copy(out, w);
      out[w++] = TAB;
      if (this.string() !== 10 || !this.#pastDate(today)) return undefined;
      w = this.#copy(out, w);
      out[w++] = TAB;
      const number = this.unsigned(NUMBER_MAX);
      if (number < 0) return undefined;
      w += writeDecimal(out, w, number);
      out[w++] = NEWLINE;
    }
    return out.slice(0, w);
  }

  /** Copies the last string read to `out` at `w`; returns where it ends. Fields are short: a loop beats making a view to set(). */
  #copy(out: Uint8Array, w: number): number {
    const bytes = this.#bytes;
    for (let i = this.#start; i < this.at; i++) out[w++] = bytes[i];
    return w;
  }

  /**
   * A name validateBet takes and bets.csv holds unquoted: at most
   * NAME_MAX_BYTES of well-formed UTF-8, no control character, bidi control,
   * line separator or U+FFFD, no quote or comma, not starting (after spaces)
   * with a formula's =, +, - or @, and at least one visible ASCII character,
   * so that it is not blank. A formula character after anything but spaces
   * and visible ASCII is declined: what counts as leading space there is the
   * general path's to judge.
   */
  #plainName(length: number): boolean {
    if (length === 0 || length > NAME_MAX_BYTES) return false;
    const bytes = this.#bytes;
    const end = this.at;
    let visible = false;
    for (let i = this.#start; i < end; i++) {
      const byte = bytes[i];
      if (byte > 0x20 && byte < 0x7f) {
        if (byte === 0x22 || byte === COMMA) return false;
        if (!visible && (byte === 0x3d || byte === 0x2b || byte === 0x2d || byte === 0x40)) return false;
        visible = true;
      } else if (byte >= 0x80) {
        const next = utf8SequenceEnd(bytes, i, end);
        if (next < 0 || forbiddenInName(bytes, i)) return false;
        i = next - 1;
      } else if (byte !== 0x20) {
        return false;
      }
    }
    return visible;
  }

  #digits(from: number, to: number): boolean {
    for (let i = from; i < to; i++) if (this.#bytes[i] < 0x30 || this.#bytes[i] > 0x39) return false;
    return true;
  }

  /** The last string read is a real YYYY-MM-DD date, not after `today`. */
  #pastDate(today: string): boolean {
    const bytes = this.#bytes;
    const at = this.#start;
    if (bytes[at + 4] !== 0x2d || bytes[at + 7] !== 0x2d) return false;
    if (!this.#digits(at, at + 4) || !this.#digits(at + 5, at + 7) || !this.#digits(at + 8, at + 10)) return false;
    const year = (bytes[at] - 0x30) * 1000 + (bytes[at + 1] - 0x30) * 100 + (bytes[at + 2] - 0x30) * 10 + (bytes[at + 3] - 0x30);
    const month = (bytes[at + 5] - 0x30) * 10 + (bytes[at + 6] - 0x30);
    const day = (bytes[at + 8] - 0x30) * 10 + (bytes[at + 9] - 0x30);
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
    // ASCII digits compare as the strings do.
    for (let i = 0; i < 10; i++) {
      const difference = bytes[at + i] - today.charCodeAt(i);
      if (difference !== 0) return difference < 0;
    }
    return true;
  }
}

/**
 * Where the UTF-8 sequence that starts at `at` (with a byte >= 0x80) ends, or
 * -1 if it is not well-formed: the ranges of the Unicode standard's table of
 * well-formed byte sequences (no overlong forms, no surrogates, nothing past
 * U+10FFFF). Inline, because isUtf8() on a view per name cost a third of
 * this path's time.
 */
function utf8SequenceEnd(bytes: Uint8Array, at: number, end: number): number {
  const lead = bytes[at];
  let continuations: number;
  let low = 0x80;
  let high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) continuations = 1;
  else if (lead >= 0xe0 && lead <= 0xef) {
    continuations = 2;
    if (lead === 0xe0) low = 0xa0;
    else if (lead === 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    continuations = 3;
    if (lead === 0xf0) low = 0x90;
    else if (lead === 0xf4) high = 0x8f;
  } else return -1;
  if (at + continuations >= end) return -1;
  const second = bytes[at + 1];
  if (second < low || second > high) return -1;
  for (let i = at + 2; i <= at + continuations; i++) if (bytes[i] < 0x80 || bytes[i] > 0xbf) return -1;
  return at + continuations + 1;
}

/**
 * Whether the well-formed UTF-8 sequence at `at` is a character validateBet
 * refuses in a name: a C1 control (U+0080-009F), a bidi control (U+061C,
 * U+200E/F, U+202A-202E, U+2066-2069), U+2028/2029, or U+FFFD.
 */
function forbiddenInName(bytes: Uint8Array, at: number): boolean {
  const lead = bytes[at];
  const second = bytes[at + 1];
  if (lead === 0xc2) return second < 0xa0;
  if (lead === 0xd8) return second === 0x9c;
  if (lead === 0xe2) {
    const third = bytes[at + 2];
    if (second === 0x80) return third === 0x8e || third === 0x8f || (third >= 0xa8 && third <= 0xae);
    return second === 0x81 && third >= 0xa6 && third <= 0xa9;
  }
  return lead === 0xef && second === 0xbf && bytes[at + 2] === 0xbd;
}

/** Writes 0..9999 in decimal at `at`; returns how many digits. */
function writeDecimal(out: Uint8Array, at: number, value: number): number {
  const digits = value >= 1000 ? 4 : value >= 100 ? 3 : value >= 10 ? 2 : 1;
  for (let i = digits - 1; i >= 0; i--) {
    out[at + i] = 0x30 + (value % 10);
    value = Math.floor(value / 10);
  }
  return digits;
}
