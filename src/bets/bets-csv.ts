import type { WireBet } from '../wire/messages.ts';

// The layout of bets.csv: agency,first_name,last_name,document,birthdate,number
// one bet per line, UTF-8, quoted only where a field needs it. Validation
// forbids control characters in names, so a row is always exactly one line;
// the Store relies on that to count and cut rows by their newlines.

const NEEDS_QUOTES = /[",\r\n]/;
const utf8 = new TextEncoder();

/** One CSV field, quoted only where it needs to be. */
export function csvField(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function formatBetRow(agency: number, bet: WireBet): string {
  return `${agency},${csvField(bet[0])},${csvField(bet[1])},${bet[2]},${bet[3]},${bet[4]}\n`;
}

/** The rows of one batch as the bytes the Store appends. */
export function encodeBetRows(agency: number, bets: readonly WireBet[]): Uint8Array {
  let text = '';
  for (const bet of bets) text += formatBetRow(agency, bet);
  return utf8.encode(text);
}

/** `rows` without its first `count` rows: a row never spans lines. */
export function skipRows(rows: Uint8Array, count: number): Uint8Array {
  let at = 0;
  for (let i = 0; i < count; i++) at = rows.indexOf(0x0a, at) + 1;
  return rows.subarray(at);
}
