// The agency reads and checks its whole bets file before it connects: a file
// whose rows the server would refuse must not be uploaded and finished, for a
// finished agency cannot upload again in the same lottery. The tally is a
// pure fold over the rows (FileTally), the reading a thin shell (checkBetFile),
// and the words for a person (describeCheck) a pure function of the tally.

import { readFile, stat } from 'node:fs/promises';
import { todayUtc } from '../bets/bet.ts';
import { readBetRows, type BetRow } from './bet-source.ts';
import { plainFileBatches, type PlainFile } from './plain-file.ts';
import { CsvSyntaxError } from '../errors.ts';

/** Line numbers kept per reason: enough to find the problem, bounded for a file of millions of rows. */
const FIRST_LINES = 5;

export type ReasonCount = { reason: string; count: number; firstLines: number[]; example: string };

export type FileCheck = {
  rows: number;
  valid: number;
  invalid: number;
  /** Invalid rows grouped by what is wrong with them, most frequent first. */
  reasons: ReasonCount[];
  /** Likely causes of many invalid rows at once: a header, an encoding, a separator. */
  hints: string[];
  /** The line the CSV reader could not read past, if any: rows after it were not checked. */
  syntaxError?: { line: number; message: string };
};

/**
 * A reason without the value that made it: "number must be an integer from 0
 * to 9999, got "x"" and "…, got "y"" are one reason.
 */
export function reasonOf(message: string): string {
  return message
    .replace(/, got [\s\S]*$/, '')
    .replace(/: U\+[0-9A-F]+ at character [\s\S]*$/, '')
    .replace(/^birthdate \S+ is/, 'birthdate is')
    .replace(/this row has \d+$/, 'this row has another count');
}

/** Tallies the rows of a file as they come; pure. */
export class FileTally {
  #rows = 0;
  #valid = 0;
  readonly #reasons = new Map<string, ReasonCount>();
  #firstInvalid: BetRow | undefined;
  #notUtf8 = 0;
  #oneFieldWithSeparator: string | undefined;
  #oneFieldRows = 0;
  #syntaxError: { line: number; message: string } | undefined;

  add(row: BetRow): void {
    this.#rows++;
    if (row.bet !== undefined) {
      this.#valid++;
      return;
    }
    this.#firstInvalid ??= row;
    const reason = reasonOf(row.invalid);
    const entry = this.#reasons.get(reason) ?? { reason, count: 0, firstLines: [], example: row.invalid };
    entry.count++;
    if (entry.firstLines.length < FIRST_LINES) entry.firstLines.push(row.line);
    this.#reasons.set(reason, entry);
    if (row.fields.some((field) => field.includes('\ufffd'))) this.#notUtf8++;
    if (row.fields.length === 1) {
      this.#oneFieldRows++;
      this.#oneFieldWithSeparator ??= [';', '\t', '|'].find((separator) => row.fields[0].includes(separator));
    }
  }

  syntaxError(error: CsvSyntaxError): void {
    this.#syntaxError = { line: error.line, message: error.message.replace(/^line \d+: /, '') };
  }

  result(): FileCheck {
    const invalid = this.#rows - this.#valid;
    const reasons = [...this.#reasons.values()].sort((a, b) => b.count - a.count || a.firstLines[0] - b.firstLines[0]);
    return {
      rows: this.#rows,
      valid: this.#valid,
      invalid,
      reasons,
      hints: this.#hints(invalid),
      ...(this.#syntaxError === undefined ? {} : { syntaxError: this.#syntaxError }),
    };
  }

  #hints(invalid: number): string[] {
    const hints: string[] = [];
    const first = this.#firstInvalid;
    if (first !== undefined && first.offset === 0 && looksLikeHeader(first.fields!)) {
      hints.push(
        `line ${first.line} looks like a header (${first.fields!.join(',').slice(0, 60)}): the file has no header line, remove it`,
      );
    }
    if (this.#notUtf8 > 0) {
      hints.push(
        `${this.#notUtf8} invalid rows hold bytes that are not UTF-8: the file looks saved in another encoding (Latin-1, Windows-1252); save it as UTF-8`,
      );
    }
    if (this.#oneFieldWithSeparator !== undefined && this.#oneFieldRows * 2 >= invalid) {
      const shown = this.#oneFieldWithSeparator === '\t' ? 'tabs' : `'${this.#oneFieldWithSeparator}'`;
      hints.push(`rows hold a single field with ${shown} in it: the file looks separated by ${shown}; fields must be separated by commas`);
    }
    return hints;
  }
}

/** A first row whose number field is a word, not digits: a header such as first_name,…,number. */
function looksLikeHeader(fields: readonly string[]): boolean {
  const last = fields.at(-1) ?? '';
  return fields.length >= 3 && /^[\p{L}_ ]+$/u.test(last) && !fields.some((field) => /^\d+$/.test(field));
}

/**
 * Files up to this size keep the rows their check read, for the upload to
 * send from instead of reading, splitting and checking every row again
 * (about a third of an agency's CPU on the course's files). A row kept costs
 * some 200 bytes, so this bounds them to about 40 MB; a larger file is read
 * again as it is sent.
 */
export const KEEP_ROWS_MAX_BYTES = 8 * 1024 * 1024;

export type CheckedFile = FileCheck & {
  /** Every row as read and checked, in file order (offset = index), when asked for and the file is small enough and readable to its end. */
  keptRows?: BetRow[];
  /** The file's batches, when asked for and the file is small enough and plain (plain-file.ts); then there are no keptRows. */
  plain?: PlainFile;
};

export type CheckOptions = {
  /** Keep the rows read, for the upload to send from (a file up to KEEP_ROWS_MAX_BYTES). */
  keepRows?: boolean;
  /** Make the upload's batches straight from the bytes of a plain file up to KEEP_ROWS_MAX_BYTES, for this agency and this cap. */
  batchesFor?: { agency: number; maxAmount: number };
};

/** Reads the whole file and tallies it. Throws only what makes the file unreadable (DataFileError from the caller's check). */
export async function checkBetFile(path: string, { keepRows = false, batchesFor }: CheckOptions = {}): Promise<CheckedFile> {
  const small = (keepRows || batchesFor !== undefined) && (await stat(path)).size <= KEEP_ROWS_MAX_BYTES;
  if (small && batchesFor !== undefined) {
    // A plain file holds only valid rows: its tally is its count.
    const plain = plainFileBatches(await readFile(path), batchesFor.agency, batchesFor.maxAmount, todayUtc());
    if (plain !== undefined) return { rows: plain.rows, valid: plain.rows, invalid: 0, reasons: [], hints: [], plain };
  }
  const tally = new FileTally();
  let kept = keepRows && small ? ([] as BetRow[]) : undefined;
  try {
    for await (const chunk of readBetRows(path)) {
      for (const row of chunk) tally.add(row);
      if (kept !== undefined) for (const row of chunk) kept.push(row);
    }
  } catch (error) {
    if (!(error instanceof CsvSyntaxError)) throw error;
    tally.syntaxError(error);
    kept = undefined;
  }
  return { ...tally.result(), ...(kept === undefined ? {} : { keptRows: kept }) };
}

/** The summary `--check` prints, a line each: counts, then each reason with its first lines, then the hints. */
export function describeCheck(path: string, check: FileCheck): string[] {
  const count = (n: number) => n.toLocaleString('en-US');
  const lines = [`${path}: ${count(check.rows)} rows read, ${count(check.valid)} valid bets, ${count(check.invalid)} invalid rows`];
  for (const { count: n, firstLines, example } of check.reasons) {
    const more = n > firstLines.length ? ', …' : '';
    lines.push(`  ${count(n)} × ${example} (line${firstLines.length > 1 ? 's' : ''} ${firstLines.join(', ')}${more})`);
  }
  if (check.syntaxError !== undefined) {
    lines.push(`  the file cannot be read past line ${check.syntaxError.line}: ${check.syntaxError.message}`);
  }
  for (const hint of check.hints) lines.push(`  hint: ${hint}`);
  return lines;
}

/**
 * Whether the agency may upload the file, and if not the one line that says
 * why: a file that cannot be read to its end, or holds no valid bet, never;
 * invalid rows only with --skip-invalid.
 */
export function uploadRefusal(path: string, check: FileCheck, skipInvalid: boolean): string | undefined {
  if (check.syntaxError !== undefined) {
    return `the bets file ${path} cannot be read at line ${check.syntaxError.line} (${check.syntaxError.message}): nothing was uploaded; fix the file and run again`;
  }
  const first = check.reasons
    .slice(0, 3)
    .map(({ example, firstLines }) => `line ${firstLines[0]}: ${example}`)
    .join('; ');
  const hint = check.hints.length > 0 ? ` (hint: ${check.hints[0]})` : '';
  if (check.valid === 0) {
    return check.rows === 0
      ? `the bets file ${path} holds no rows: nothing to upload`
      : `the bets file ${path} holds no valid bet (${check.invalid} invalid rows; ${first})${hint}: nothing was uploaded`;
  }
  if (check.invalid > 0 && !skipInvalid) {
    return (
      `the bets file ${path} has ${check.invalid} invalid rows of ${check.rows} (${first})${hint}: nothing was uploaded; ` +
      'fix the file, or pass --skip-invalid to upload the valid rows and have the server refuse the rest'
    );
  }
  return undefined;
}
