// Streams an agency's bets file: first_name,last_name,document,birthdate,number
// per row, CRLF or LF, UTF-8 with or without a BOM, quoted fields allowed
// (csv-rows.ts). The file is never loaded whole.
//
// Every row of the file (empty lines are none) is numbered from 0 in file
// order: that number is its offset in the protocol. It depends on the file
// alone, never on the clock or on what this agency thinks of the row, so two
// connections, or two versions of the checks, number the same row alike.
// Each row comes with the agency's own verdict on it (bet.ts, the module the
// server checks with); the server's verdict is the one that counts.

import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { betFromFields, todayUtc } from '../bets/bet.ts';
import type { WireBet } from '../wire/messages.ts';
import { csvRows } from './csv-rows.ts';
import { DataFileError, InvalidBetError } from '../errors.ts';

export type BetRow =
  | { offset: number; line: number; bet: WireBet; invalid?: undefined; fields?: undefined }
  | { offset: number; line: number; bet?: undefined; invalid: string; fields: string[] };

export type BetSourceOptions = {
  /** Rows to pass over first: those the server already holds. They are read, not checked. */
  skip?: number;
  /** Told how many bytes of the file have been read, as reading goes. */
  onProgress?: (bytesRead: number) => void;
};

/**
 * Checks that `path` is a regular file this process can read; throws
 * DataFileError with one line that says why not.
 */
export async function checkDataFile(path: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
    const stats = await handle.stat();
    if (stats.isDirectory()) throw new DataFileError(`the bets file ${path} is a directory`);
    if (!stats.isFile()) throw new DataFileError(`the bets file ${path} is not a regular file`);
  } catch (error) {
    if (error instanceof DataFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES' || code === 'EPERM'
          ? 'cannot be read (permission denied)'
          : code === 'EISDIR'
            ? 'is a directory'
            : `cannot be read: ${(error as Error).message}`;
    throw new DataFileError(`the bets file ${path} ${why}`, { cause: error });
  } finally {
    await handle?.close();
  }
}

/**
 * The file's rows from offset `skip` on, numbered and checked, as many at a
 * time as each read completes. A row that is not a bet here carries the
 * reason and its fields as read. Ends with a CsvSyntaxError (csv-rows.ts) at
 * a row the CSV reader cannot make sense of.
 */
export async function* readBetRows(path: string, options: BetSourceOptions = {}): AsyncGenerator<BetRow[]> {
  const { skip = 0, onProgress } = options;
  // Read once per file: formatting the clock per row costs more than checking the row.
  const today = todayUtc();
  const file = createReadStream(path, { highWaterMark: 64 * 1024 });
  if (onProgress !== undefined) file.on('data', () => onProgress(file.bytesRead));
  let offset = 0;
  try {
    for await (const rows of csvRows(file)) {
      const out: BetRow[] = [];
      for (const { line, fields } of rows) {
        if (offset < skip) {
          offset++;
          continue;
        }
        try {
          out.push({ offset, line, bet: betFromFields(fields, today) });
        } catch (error) {
          if (!(error instanceof InvalidBetError)) throw error;
          out.push({ offset, line, invalid: error.message, fields });
        }
        offset++;
      }
      if (out.length > 0) yield out;
    }
  } finally {
    file.destroy();
  }
}

/** Rows kept from the file's check (offset = index), from offset `skip` on, in chunks as readBetRows yields them. */
export async function* keptBetRows(rows: readonly BetRow[], skip = 0): AsyncGenerator<BetRow[]> {
  const CHUNK = 4096;
  for (let from = skip; from < rows.length; from += CHUNK) yield rows.slice(from, from + CHUNK);
}

/**
 * A row this agency refuses, as it is sent for the server's verdict: its
 * fields as read, a number field of digits as a number, each cut to 200
 * characters and at most one field too many. A cut never makes a refused row
 * valid (no valid field is that long), and the bet always fits a frame.
 */
export function fieldsAsSent(fields: readonly string[]): unknown[] {
  return fields.slice(0, 6).map((field, index) => {
    const cut = field.slice(0, 200);
    return index === 4 && /^[0-9]{1,9}$/.test(cut) ? Number(cut) : cut;
  });
}
