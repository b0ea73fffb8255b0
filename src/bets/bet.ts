import { excerpt } from '../wire/excerpt.ts';
import type { WireBet } from '../wire/messages.ts';
import { InvalidBetError } from '../errors.ts';

// One validation for both sides: an agency never sends what the server would
// refuse, and the server never trusts that it did.

/** A bet wins when its number is this one. */
export const WINNING_NUMBER = 7574;
export const NAME_MAX_BYTES = 100;
export const DOCUMENT_MAX_DIGITS = 16;
export const NUMBER_MAX = 9999;
export const BET_FIELDS = ['first_name', 'last_name', 'document', 'birthdate', 'number'] as const;

// What a name must not hold, each with the reason given when it does. A name
// ends up in bets.csv, in logs and in whatever an operator opens them with:
// controls and line separators break lines, bidi controls make text read
// other than it is, and U+FFFD is what bytes that were not UTF-8 decode to
// (so invalid UTF-8 is refused, never stored as replaced).
const FORBIDDEN_IN_NAME: ReadonlyArray<[RegExp, string]> = [
  [/[\u0000-\u001f\u007f-\u009f]/u, 'a control character'],
  [/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u, 'a bidirectional control'],
  [/[\u2028\u2029]/u, 'a line or paragraph separator'],
  [/[\ufffd]|\p{Cs}/u, 'bytes that are not valid UTF-8'],
];
/** All of the above in one test, for the common case of a name that has none. */
const ANY_FORBIDDEN_IN_NAME = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufffd]|\p{Cs}/u;
/**
 * Characters that show as nothing, or as a blank: zero-width ones, the soft
 * hyphen, Hangul fillers, the blank braille pattern, variation selectors,
 * invisible operators, tag characters, and combining marks, which have
 * nothing to sit on in a name made only of them. A name of only these (and
 * white space) is blank.
 */
const INVISIBLE =
  /[\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200d\u2060-\u2064\u2800\u3164\ufe00-\ufe0f\uffa0\ufeff\u{e0000}-\u{e007f}]|\p{M}/gu;
/** The same, to test for: most names have none, and removing them would copy the name. */
const ANY_INVISIBLE =
  /[\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200d\u2060-\u2064\u2800\u3164\ufe00-\ufe0f\uffa0\ufeff\u{e0000}-\u{e007f}]|\p{M}/u;
/** A spreadsheet reads a cell that starts with one of these as a formula. */
const FORMULA_START = /^\s*[=+\-@]/u;
const DASH = 0x2d;
const ZERO = 0x30;
const utf8 = new TextEncoder();

/** Today's date as YYYY-MM-DD in UTC: the latest birthdate a bet may carry. */
export function todayUtc(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/**
 * Checks one bet as received on the wire (an array of unknown values) and
 * returns it typed. Throws InvalidBetError naming the field at fault.
 */
export function validateBet(raw: readonly unknown[], today: string = todayUtc()): WireBet {
  if (raw.length !== BET_FIELDS.length) {
    throw new InvalidBetError('bet', `a bet has ${BET_FIELDS.length} fields, this one has ${raw.length}`);
  }
  return checkedBet(raw[0], raw[1], raw[2], raw[3], raw[4], today);
}

/** The checks of validateBet, field by field; the bet is the one array made. */
function checkedBet(firstName: unknown, lastName: unknown, document: unknown, birthdate: unknown, number: unknown, today: string): WireBet {
  checkName('first_name', firstName);
  checkName('last_name', lastName);
  if (typeof document !== 'string' || !allDigits(document) || document.length > DOCUMENT_MAX_DIGITS) {
    throw new InvalidBetError('document', `document must be 1 to ${DOCUMENT_MAX_DIGITS} digits, got ${excerpt(document)}`);
  }
  checkBirthdate(birthdate, today);
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 0 || number > NUMBER_MAX) {
    throw new InvalidBetError('number', `number must be an integer from 0 to ${NUMBER_MAX}, got ${excerpt(number)}`);
  }
  return [firstName as string, lastName as string, document, birthdate as string, number];
}

/**
 * Reads a bet from the five text fields of a CSV row, as an agency's file has
 * them, and validates it. The number must be written as plain digits.
 */
export function betFromFields(fields: readonly string[], today: string = todayUtc()): WireBet {
  if (fields.length !== BET_FIELDS.length) {
    throw new InvalidBetError('bet', `a bet has ${BET_FIELDS.length} fields (${BET_FIELDS.join(',')}), this row has ${fields.length}`);
  }
  const numberText = fields[4];
  if (!allDigits(numberText) || numberText.length > 4) {
    throw new InvalidBetError('number', `number must be an integer from 0 to ${NUMBER_MAX}, got ${excerpt(numberText)}`);
  }
  return checkedBet(fields[0], fields[1], fields[2], fields[3], Number(numberText), today);
}

function checkName(field: string, value: unknown): void {
  if (typeof value === 'string' && plainLatinName(value)) return;
  if (typeof value !== 'string' || value.trim() === '' || (ANY_INVISIBLE.test(value) && value.replace(INVISIBLE, '').trim() === '')) {
    throw new InvalidBetError(field, `${field} must be a non-empty string, got ${excerpt(value)}`);
  }
  if (ANY_FORBIDDEN_IN_NAME.test(value)) {
    for (const [pattern, what] of FORBIDDEN_IN_NAME) {
      const found = pattern.exec(value);
      if (found === null) continue;
      const code = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      // The excerpt starts a little before the character, so that it shows.
      const from = Math.max(0, found.index - 16);
      const shown = `${from > 0 ? '…' : ''}${excerpt(value.slice(from))}`;
      throw new InvalidBetError(field, `${field} must not contain ${what}: U+${code} at character ${found.index + 1} of ${shown}`);
    }
  }
  if (FORMULA_START.test(value)) {
    throw new InvalidBetError(
      field,
      `${field} must not start with =, +, - or @ (a spreadsheet reads it as a formula), got ${excerpt(value)}`,
    );
  }
  // Most names are ASCII; count bytes only when the length could be over.
  if (value.length * 3 > NAME_MAX_BYTES && utf8.encode(value).length > NAME_MAX_BYTES) {
    throw new InvalidBetError(field, `${field} must be at most ${NAME_MAX_BYTES} bytes of UTF-8`);
  }
}

/**
 * Whether a name passes checkName without its regular expressions, as most
 * do: printable Latin-1 only (no control character, nothing that is not
 * UTF-8, no bidi control or zero-width character, all of which lie
 * elsewhere), at least one character that is not white space (for trim()
 * and \s, in Latin-1, the space and U+00A0), no formula character before
 * it, and short enough that even two bytes a character fit. Anything else
 * is for checkName to judge, and to explain.
 */
function plainLatinName(value: string): boolean {
  if (value.length > NAME_MAX_BYTES / 2) return false;
  let visible = false;
  for (let at = 0; at < value.length; at++) {
    const code = value.charCodeAt(at);
    if (code === 0x20 || code === 0xa0) continue;
    // The soft hyphen (U+00AD) shows as nothing: checkName judges a name with one.
    if ((code > 0x20 && code < 0x7f) || (code > 0xa0 && code <= 0xff && code !== 0xad)) {
      if (!visible && (code === 0x3d || code === 0x2b || code === 0x2d || code === 0x40)) return false;
      visible = true;
    } else {
      return false;
    }
  }
  return visible;
}

function checkBirthdate(value: unknown, today: string): void {
  // YYYY-MM-DD read by character codes: a regular expression's match would
  // make four strings a bet.
  const date = typeof value === 'string' && value.length === 10 ? value : '';
  const year = date === '' ? -1 : digitsAt(date, 0, 4);
  const month = year < 0 || date.charCodeAt(4) !== DASH ? -1 : digitsAt(date, 5, 2);
  const day = month < 0 || date.charCodeAt(7) !== DASH ? -1 : digitsAt(date, 8, 2);
  if (day < 0) {
    throw new InvalidBetError('birthdate', `birthdate must be a date as YYYY-MM-DD, got ${excerpt(value)}`);
  }
  // Year 0000 is in no calendar a birthdate is written in (1 BC is followed by AD 1).
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    throw new InvalidBetError('birthdate', `birthdate ${value} is not a real date`);
  }
  if ((value as string) > today) {
    throw new InvalidBetError('birthdate', `birthdate ${value} is in the future`);
  }
}

/** Whether `text` is one or more ASCII digits. */
function allDigits(text: string): boolean {
  return text !== '' && digitsAt(text, 0, text.length) >= 0;
}

/** The number the `count` ASCII digits of `text` from `from` write; -1 if any is not a digit. */
function digitsAt(text: string, from: number, count: number): number {
  let value = 0;
  for (let at = from; at < from + count; at++) {
    const digit = text.charCodeAt(at) - ZERO;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
