import type { WireBet } from '../wire/messages.ts';

// The layout of bets.csv: agency,first_name,last_name,document,birthdate,number
// one bet per line, UTF-8, quoted only where a field needs it. Validation
// forbids control characters in names, so a row is always exactly one line;
// recovery relies on that to read rows back by their newlines. The Store
// writes the rows it is handed as canonical lines (see canonical-bet.ts) in
// this layout.

const NEEDS_QUOTES = /[",\r\n]/;

/** One CSV field, quoted only where it needs to be. */
export function csvField(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function formatBetRow(agency: number, bet: WireBet): string {
  return `${agency},${csvField(bet[0])},${csvField(bet[1])},${bet[2]},${bet[3]},${bet[4]}\n`;
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;
const QUOTE = 0x22;
/** Where encodeBetRows writes before it copies out what it wrote; grows as needed. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * The rows of one batch as bets.csv holds them: the UTF-8 of the rows
 * formatBetRow writes, written straight into bytes. Plain ASCII fields (nearly
 * all) are copied here; any other field is written as formatBetRow has it.
 */
export function encodeBetRows(agency: number, bets: readonly WireBet[]): Uint8Array {
  const prefix = `${agency},`;
  let at = 0;
  for (const bet of bets) {
    const number = `${bet[4]}`;
    // A UTF-16 unit is at most 3 bytes of UTF-8, or 2 as a doubled quote; a quoted name adds 2.
    const most = prefix.length + 3 * (bet[0].length + bet[1].length + bet[2].length + bet[3].length) + 4 + 4 + number.length + 1;
    if (at + most > scratch.length) {
      const larger = Buffer.allocUnsafe(Math.max(2 * scratch.length, at + most));
      scratch.copy(larger, 0, 0, at);
      scratch = larger;
    }
    at = writeText(scratch, at, prefix, false);
    at = writeText(scratch, at, bet[0], true);
    scratch[at++] = COMMA;
    at = writeText(scratch, at, bet[1], true);
    scratch[at++] = COMMA;
    at = writeText(scratch, at, bet[2], false);
    scratch[at++] = COMMA;
    at = writeText(scratch, at, bet[3], false);
    scratch[at++] = COMMA;
    at = writeText(scratch, at, number, false);
    scratch[at++] = NEWLINE;
  }
  const rows = new Uint8Array(at);
  rows.set(scratch.subarray(0, at));
  return rows;
}

/**
 * `text` at `at` as UTF-8, as a CSV field (quoted where csvField quotes) when
 * `field`; where it ends. Copied byte by byte while it is ASCII that needs no
 * quotes (the characters NEEDS_QUOTES looks for), else written over from the
 * start by Buffer#write.
 */
function writeText(target: Buffer, at: number, text: string, field: boolean): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80 || (field && (code === QUOTE || code === COMMA || code === NEWLINE || code === CR))) {
      return at + target.write(field ? csvField(text) : text, at);
    }
    target[at + i] = code;
  }
  return at + text.length;
}

/** `rows` without its first `count` rows: a row never spans lines. */
export function skipRows(rows: Uint8Array, count: number): Uint8Array {
  let at = 0;
  for (let i = 0; i < count; i++) at = rows.indexOf(0x0a, at) + 1;
  return rows.subarray(at);
}
