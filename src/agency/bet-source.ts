// Streams an agency's bets file: first_name,last_name,document,birthdate,number
// per row, CRLF or LF, UTF-8 with or without a BOM, quoted fields allowed.
// The file is never loaded whole. A row that is not a valid bet is reported
// with its line number and skipped; valid bets are numbered from 0 in file
// order, which is what the protocol's offsets count.

import { parse } from 'fast-csv';
import { createReadStream } from 'node:fs';
import { betFromFields, InvalidBetError, todayUtc } from '../bets/bet.ts';
import type { WireBet } from '../wire/messages.ts';

export type BadRow = { line: number; reason: string };
export type BetSourceOptions = {
  /** Valid bets to pass over first: those the server already holds. */
  skip?: number;
  onBadRow?: (row: BadRow) => void;
  /** Told how many bytes of the file have been read, as reading goes. */
  onProgress?: (bytesRead: number) => void;
};

export async function* readBets(path: string, options: BetSourceOptions = {}): AsyncGenerator<WireBet> {
  const { skip = 0, onBadRow, onProgress } = options;
  const today = todayUtc();
  const file = createReadStream(path);
  if (onProgress !== undefined) file.on('data', () => onProgress(file.bytesRead));
  const rows = file.pipe(parse({ headers: false, trim: false }));
  file.on('error', (error) => rows.destroy(error));
  let line = 0;
  let nextLine = 1;
  let valid = 0;
  try {
    for await (const row of rows as AsyncIterable<string[]>) {
      // fast-csv yields rows, not lines: a quoted field may span lines, and
      // the rows after it must still be reported by the line they are on.
      line = nextLine;
      nextLine += 1 + lineBreaks(row);
      if (line === 1 && row.length > 0 && row[0].startsWith('\uFEFF')) row[0] = row[0].slice(1);
      if (row.length === 0 || (row.length === 1 && row[0] === '')) continue;
      let bet: WireBet;
      try {
        bet = betFromFields(row, today);
      } catch (error) {
        if (!(error instanceof InvalidBetError)) throw error;
        onBadRow?.({ line, reason: error.message });
        continue;
      }
      if (valid++ >= skip) yield bet;
    }
  } finally {
    file.destroy();
  }
}

function lineBreaks(row: readonly string[]): number {
  let count = 0;
  for (const field of row) count += field.match(/\r\n|\r|\n/g)?.length ?? 0;
  return count;
}
