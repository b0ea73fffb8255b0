// The rows of an agency's CSV file, each with the line it starts on.
//
// fast-csv is the parser of record. Its scanner works a character at a time,
// which was most of an agency's CPU, so plain lines take a fast path: a line
// with no quote and no carriage return except the one before its newline is
// exactly its fields split at the commas, as fast-csv would read it. At the
// first line that is not plain, the rest of the file goes to fast-csv.
// test/csv-rows.test.ts feeds both the same generated and hostile files in
// random chunks and checks they agree.
//
// Rules both paths share: a UTF-8 BOM at the start of the file is dropped;
// an empty line, or one of white space only, is no row (fast-csv yields []),
// but it is counted as a line; white space before a row's first comma is no
// field (fast-csv gives '');
// a quoted field may span lines, and the rows after it keep their true line
// numbers. fast-csv also drops a U+FEFF at the start of whatever text it is
// handed at once, which makes a U+FEFF that opens a later line depend on how
// the file was cut into pieces; here it is dropped at the start of every row.
//
// An unrecoverable CSV error (a quote never closed, text after a closing
// quote) ends the rows with a CsvSyntaxError naming the line of the row at
// fault; every row before it has been yielded.

import { CsvSyntaxError } from '../errors.ts';
export type CsvRow = { line: number; fields: string[] };

const NEWLINE = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const BOM = '\uFEFF';
/** A piece longer than this with no newline goes to fast-csv, which bounds what it holds. */
const LONGEST_PLAIN_LINE = 64 * 1024;
/** Bytes fast-csv may rescan for one unfinished row before it gets larger pieces: tens of milliseconds. */
const RESCAN_BUDGET = 32 * 1024 * 1024;

/** Rows of the CSV text in `chunks`, as many as each chunk completes. */
export async function* csvRows(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<CsvRow[]> {
  const source = chunks[Symbol.asyncIterator]();
  let carry: Buffer | undefined;
  let line = 1;
  let atStart = true;
  while (true) {
    const next = await source.next();
    if (next.done) break;
    let bytes =
      carry === undefined
        ? Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength)
        : Buffer.concat([carry, next.value]);
    carry = undefined;
    if (atStart) {
      // The BOM may come split over the first chunks.
      if (bytes.length < 3 && Buffer.from([0xef, 0xbb, 0xbf]).subarray(0, bytes.length).equals(bytes)) {
        carry = bytes;
        continue;
      }
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
      atStart = false;
    }
    const end = bytes.lastIndexOf(NEWLINE);
    if (end < 0) {
      if (bytes.length > LONGEST_PLAIN_LINE) return yield* slowRows(bytes, source, line);
      carry = bytes;
      continue;
    }
    const text = bytes.toString('utf8', 0, end + 1);
    const rows: CsvRow[] = [];
    let index = 0;
    for (let start = 0; start < text.length; index++) {
      const newline = text.indexOf('\n', start);
      const fields = plainFieldsAt(text, start, newline);
      if (fields === undefined) {
        if (rows.length > 0) yield rows;
        return yield* slowRows(bytes.subarray(startOfLine(bytes, index)), source, line);
      }
      if (fields.length > 0) rows.push({ line, fields });
      line++;
      start = newline + 1;
    }
    if (end + 1 < bytes.length) carry = bytes.subarray(end + 1);
    if (rows.length > 0) yield rows;
  }
  if (carry === undefined) return;
  const text = carry.toString('utf8');
  const fields = plainFieldsAt(text, 0, text.length);
  if (fields === undefined) return yield* slowRows(carry, source, line);
  if (fields.length > 0) yield [{ line, fields }];
}

/**
 * The fields of the plain line of `text` from `start` to `newline` (its
 * newline, or the end of the text), read in place: no string for the line,
 * one per field. None for an empty line; undefined when fast-csv must read it.
 */
function plainFieldsAt(text: string, start: number, newline: number): string[] | undefined {
  let end = newline;
  if (text.charCodeAt(end - 1) === CR && end > start) end--;
  if (text.charCodeAt(start) === 0xfeff) start++;
  if (start === end) return [];
  const fields: string[] = [];
  let from = start;
  for (let at = start; at < end; at++) {
    const code = text.charCodeAt(at);
    if (code === COMMA) {
      fields.push(text.slice(from, at));
      from = at + 1;
    } else if (code === QUOTE || code === CR) {
      // A quote, or a carriage return anywhere but before the newline, is fast-csv's to read.
      return undefined;
    }
  }
  fields.push(text.slice(from, end));
  const first = fields[0].charCodeAt(0);
  if ((first <= 0x20 || first >= 0xa0 || Number.isNaN(first)) && fields[0].trim() === '') {
    if (fields.length === 1) return [];
    fields[0] = '';
  }
  return fields;
}

/** The byte where the `index`-th line (from 0) of `bytes` starts. */
function startOfLine(bytes: Buffer, index: number): number {
  let at = 0;
  for (let i = 0; i < index; i++) at = bytes.indexOf(NEWLINE, at) + 1;
  return at;
}

/**
 * The rest of the file through fast-csv, from `first` (which starts at line
 * `line`) on. fast-csv drops every row of a piece in which it meets an error,
 * so it is handed one line at a time. Inside a row that spans lines it
 * rescans the row from its start on each piece; past RESCAN_BUDGET bytes of
 * such rescanning (a quoted field of many kilobytes, never a bet) it is
 * handed ever larger pieces instead, and an error in such a piece is named
 * by the line where that long row starts.
 */
async function* slowRows(first: Buffer, source: AsyncIterator<Uint8Array>, line: number): AsyncGenerator<CsvRow[]> {
  // Loaded only for a file that needs it: most agencies never do.
  const { parse } = await import('fast-csv');
  const parser = parse({ headers: false, trim: false });
  const parsed: string[][] = [];
  let failure: Error | undefined;
  parser.on('data', (row: string[]) => parsed.push(row));
  parser.on('error', (error: Error) => (failure ??= error));
  const ended = new Promise<void>((resolve) => {
    parser.once('end', resolve);
    parser.once('error', () => resolve());
  });
  let nextLine = line;
  const collect = (): CsvRow[] => {
    const rows: CsvRow[] = [];
    for (const fields of parsed) {
      const at = nextLine;
      nextLine += 1 + lineBreaks(fields);
      if (fields.length > 0 && fields[0].startsWith(BOM)) fields[0] = fields[0].slice(1);
      if (fields.length > 0) rows.push({ line: at, fields });
    }
    parsed.length = 0;
    return rows;
  };
  // fast-csv's message ends with the rest of the text it holds: all of the file after an unclosed quote.
  const fail = () => new CsvSyntaxError(nextLine, failure!.message.replace(/^Parse Error: /, '').replace(/ (in line: )?at '[\s\S]*$/, ''));

  let pending: Buffer = first;
  let linesPerPiece = 1;
  /** Bytes handed over since fast-csv last gave a row, and what rescanning them has cost. */
  let unfinished = 0;
  let rescanned = 0;
  let done = false;
  while (!done || pending.length > 0) {
    // Cut the next piece: linesPerPiece whole lines, or all that is pending at the end.
    let cut = -1;
    for (let n = 0, from = 0; n < linesPerPiece; n++) {
      const at = pending.indexOf(NEWLINE, from);
      if (at < 0) break;
      cut = at + 1;
      from = cut;
    }
    if (cut < 0 && !done) {
      const next = await source.next();
      if (next.done) done = true;
      else pending = pending.length === 0 ? Buffer.from(next.value) : Buffer.concat([pending, next.value]);
      continue;
    }
    const piece = cut < 0 ? pending : pending.subarray(0, cut);
    pending = cut < 0 ? Buffer.alloc(0) : pending.subarray(cut);
    parser.write(piece);
    // fast-csv parses on write; let its transform run before looking.
    await new Promise(setImmediate);
    const gaveRows = parsed.length > 0;
    const rows = collect();
    if (failure !== undefined) {
      if (rows.length > 0) yield rows;
      throw fail();
    }
    if (gaveRows) {
      unfinished = rescanned = 0;
      linesPerPiece = 1;
    } else {
      unfinished += piece.length;
      rescanned += unfinished;
      if (rescanned > RESCAN_BUDGET) linesPerPiece *= 2;
    }
    if (rows.length > 0) yield rows;
  }
  parser.end();
  await ended;
  const rows = collect();
  if (rows.length > 0) yield rows;
  if (failure !== undefined) throw fail();
}

function lineBreaks(fields: readonly string[]): number {
  let count = 0;
  for (const field of fields) count += field.match(/\r\n|\r|\n/g)?.length ?? 0;
  return count;
}
