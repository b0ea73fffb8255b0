// The canonical form of a stored bet, which the digests are over (the upload
// digest, src/bets/upload-digest.ts; the hash chain, src/storage/hash-chain.ts)
// so that they do not depend on how bets.csv lays a row out:
//   <agency>\t<first_name>\t<last_name>\t<document>\t<birthdate>\t<number>\n
// UTF-8, the fields as validated: names are printable and never hold a TAB,
// CR or LF, so a line is always one bet and needs no quoting; the number in
// plain decimal. Sessions hand the Store their batches as canonical lines;
// the Store turns them into bets.csv rows as it writes (csvFromCanonical),
// and recovery turns bets.csv rows back (CanonicalFromCsv).
import type { WireBet } from '../wire/messages.ts';
import { csvField } from './bets-csv.ts';

const TAB = 0x09;
const NEWLINE = 0x0a;
const COMMA = 0x2c;
const QUOTE = 0x22;

/** One bet's canonical line. */
export function canonicalLine(agency: number, bet: WireBet): string {
  return `${agency}\t${bet[0]}\t${bet[1]}\t${bet[2]}\t${bet[3]}\t${bet[4]}\n`;
}

/** Where encodeCanonicalLines writes before it copies out what it wrote; grows as needed. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * The canonical lines of one batch, as UTF-8 bytes of their own (a new
 * buffer, which the caller may move to another thread). ASCII text (nearly
 * all) is copied a byte at a time; any other is written by Buffer#write.
 */
export function encodeCanonicalLines(agency: number, bets: readonly WireBet[]): Uint8Array {
  const prefix = `${agency}\t`;
  let at = 0;
  for (const bet of bets) {
    const number = `${bet[4]}`;
    // A UTF-16 unit is at most 3 bytes of UTF-8.
    const most = prefix.length + 3 * (bet[0].length + bet[1].length + bet[2].length + bet[3].length) + 4 + number.length + 1;
    if (at + most > scratch.length) {
      const larger = Buffer.allocUnsafe(Math.max(2 * scratch.length, at + most));
      scratch.copy(larger, 0, 0, at);
      scratch = larger;
    }
    at = writeText(scratch, at, prefix);
    at = writeText(scratch, at, bet[0]);
    scratch[at++] = TAB;
    at = writeText(scratch, at, bet[1]);
    scratch[at++] = TAB;
    at = writeText(scratch, at, bet[2]);
    scratch[at++] = TAB;
    at = writeText(scratch, at, bet[3]);
    scratch[at++] = TAB;
    at = writeText(scratch, at, number);
    scratch[at++] = NEWLINE;
  }
  const lines = new Uint8Array(at);
  lines.set(scratch.subarray(0, at));
  return lines;
}

/** The bets of canonical lines (one agency's), as encodeCanonicalLines had them: for a log that names each. */
export function betsOfCanonicalLines(lines: Uint8Array): WireBet[] {
  const text = Buffer.from(lines.buffer, lines.byteOffset, lines.byteLength).toString('utf8');
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => {
      const [, first, last, document, birthdate, number] = line.split('\t');
      return [first, last, document, birthdate, Number(number)];
    });
}

/** `text` at `at` as UTF-8; where it ends. */
function writeText(target: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) return at + target.write(text, at);
    target[at + i] = code;
  }
  return at + text.length;
}

/**
 * Canonical lines as bets.csv rows (src/bets/bets-csv.ts): each TAB becomes
 * a comma. Nearly every batch has no `"` or `,` (which a CSV field must
 * quote): its bytes are copied and the TABs turned into commas four bytes at
 * a time, which costs the Store less than half what a loop over bytes does. A batch with
 * either goes through rowsFromCanonical.
 */
export function csvFromCanonical(lines: Uint8Array): Uint8Array {
  // Buffer#indexOf is memchr; a Uint8Array's own indexOf costs ten times as much.
  const bytes = Buffer.from(lines.buffer, lines.byteOffset, lines.length);
  if (bytes.indexOf(QUOTE) !== -1 || bytes.indexOf(COMMA) !== -1) return rowsFromCanonical(lines);
  // A copy of its own, at offset 0 of its own buffer, so that it can be read as 32-bit words.
  const out = new Uint8Array(lines);
  const words = new Uint32Array(out.buffer, 0, out.length >>> 2);
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    // Per byte, with no carry between bytes: the high bit of `tabs` is set
    // where the byte is a TAB (x ^ TAB is zero), and only there.
    const x = word ^ 0x09090909;
    const tabs = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x) & 0x80808080;
    // TAB ^ 0x25 is a comma.
    words[i] = word ^ ((tabs >>> 7) * 0x25);
  }
  for (let i = words.length << 2; i < out.length; i++) if (out[i] === TAB) out[i] = COMMA;
  return out;
}

/**
 * csvFromCanonical's general path, in one pass: each TAB becomes a comma. A
 * line whose names hold a `"` or `,` is written again from its start as
 * formatBetRow would.
 */
function rowsFromCanonical(lines: Uint8Array): Uint8Array {
  // Quoting adds 2 bytes per name and one per `"`: sized for the plain case, grown if a line needs more.
  let out = new Uint8Array(lines.length);
  let w = 0;
  let lineStart = 0;
  let lineOut = 0;
  for (let i = 0; i < lines.length; i++) {
    const byte = lines[i];
    if (byte === TAB) out[w++] = COMMA;
    else if (byte === NEWLINE) {
      out[w++] = NEWLINE;
      lineStart = i + 1;
      lineOut = w;
    } else if (byte === QUOTE || byte === COMMA) {
      const end = lines.indexOf(NEWLINE, i) + 1;
      const row = Buffer.from(csvRowOf(Buffer.from(lines.buffer, lines.byteOffset + lineStart, end - lineStart).toString('utf8')), 'utf8');
      const grown = new Uint8Array(out.length + row.length);
      grown.set(out.subarray(0, lineOut));
      out = grown;
      out.set(row, lineOut);
      w = lineOut + row.length;
      i = end - 1;
      lineStart = end;
      lineOut = w;
    } else out[w++] = byte;
  }
  return w === out.length ? out : out.slice(0, w);
}

/** One canonical line (with its newline) as its bets.csv row. */
function csvRowOf(line: string): string {
  const [agency, first, last, document, birthdate, number] = line.slice(0, -1).split('\t');
  return `${agency},${csvField(first)},${csvField(last)},${document},${birthdate},${number}\n`;
}

/**
 * Bytes of bets.csv, read from the start of a row in chunks of any size, as
 * canonical lines: each comma becomes a TAB, in one pass, but for a row with
 * a `"` (one whose names needed quoting), which is parsed. Keeps the part of
 * a row that a chunk cuts until the next chunk.
 */
export class CanonicalFromCsv {
  #partial: Uint8Array = new Uint8Array(0);

  /** The canonical lines of the whole rows `chunk` completes. */
  push(chunk: Uint8Array): Uint8Array {
    const bytes = this.#partial.length > 0 ? Buffer.concat([this.#partial, chunk]) : chunk;
    const end = bytes.lastIndexOf(NEWLINE) + 1;
    // Copied: the caller reuses its buffer.
    this.#partial = bytes.slice(end);
    let out = new Uint8Array(end);
    let w = 0;
    let lineStart = 0;
    for (let i = 0; i < end; i++) {
      const byte = bytes[i];
      if (byte === COMMA) out[w++] = TAB;
      else if (byte === NEWLINE) {
        out[w++] = NEWLINE;
        lineStart = i + 1;
      } else if (byte === QUOTE) {
        const lineEnd = bytes.indexOf(NEWLINE, i) + 1;
        const line = Buffer.from(
          canonicalOfCsvRow(Buffer.from(bytes.buffer, bytes.byteOffset + lineStart, lineEnd - lineStart).toString('utf8')),
          'utf8',
        );
        w -= i - lineStart;
        if (w + line.length + (end - lineEnd) > out.length) {
          const grown = new Uint8Array(w + line.length + (end - lineEnd));
          grown.set(out.subarray(0, w));
          out = grown;
        }
        out.set(line, w);
        w += line.length;
        i = lineEnd - 1;
        lineStart = lineEnd;
      } else out[w++] = byte;
    }
    return w === out.length ? out : out.slice(0, w);
  }

  /** True when the bytes given so far end with a whole row. */
  get ended(): boolean {
    return this.#partial.length === 0;
  }
}

/** One bets.csv row (with its newline), with quoted fields, as its canonical line. */
function canonicalOfCsvRow(row: string): string {
  const fields: string[] = [];
  let at = 0;
  const text = row.slice(0, -1);
  while (at <= text.length) {
    if (text[at] === '"') {
      let value = '';
      let i = at + 1;
      for (;;) {
        const close = text.indexOf('"', i);
        if (close < 0) throw new Error(`a bets.csv row with an unclosed quote: ${JSON.stringify(row)}`);
        value += text.slice(i, close);
        if (text[close + 1] === '"') {
          value += '"';
          i = close + 2;
        } else {
          at = close + 1;
          break;
        }
      }
      // A quoted field ends at a comma or at the row's end: anything else is not a row this server wrote.
      if (at < text.length && text[at] !== ',') throw new Error(`a bets.csv row with text after a closing quote: ${JSON.stringify(row)}`);
      fields.push(value);
      at++; // the comma after it, or past the end
    } else {
      const comma = text.indexOf(',', at);
      const end = comma < 0 ? text.length : comma;
      fields.push(text.slice(at, end));
      at = end + 1;
    }
  }
  return `${fields.join('\t')}\n`;
}

/**
 * The canonical bytes a group commit adds to the hash chain after its bets'
 * lines: one line per agency whose state it changed, then one per agency
 * that finished in it, each in ascending agency id, then its time.
 *   offsets\t<agency>\t<next>\t<stored>\n
 *   finish\t<agency>\t<total>\t<upload digest hex>\n
 *   time\t<ISO 8601 UTC time, as the record has it>\n
 */
export function commitTail(
  agencies: Record<string, { next: number; stored: number }>,
  finished: Record<string, { total: number; digest: string }> | undefined,
  at: string,
): Uint8Array {
  let text = '';
  for (const agency of ascendingIds(agencies)) text += `offsets\t${agency}\t${agencies[agency].next}\t${agencies[agency].stored}\n`;
  if (finished !== undefined) {
    for (const agency of ascendingIds(finished)) text += `finish\t${agency}\t${finished[agency].total}\t${finished[agency].digest}\n`;
  }
  text += `time\t${at}\n`;
  return Buffer.from(text, 'utf8');
}

/**
 * The canonical bytes of the sales close, a link of the hash chain of its
 * own: its time, then each agency that had not finished, ascending.
 *   close\t<ISO 8601 UTC time>\n
 *   closed\t<agency>\t<next>\t<stored>\n
 */
export function closeBytes(at: string, unfinished: Record<string, { next: number; stored: number }>): Uint8Array {
  let text = `close\t${at}\n`;
  for (const agency of ascendingIds(unfinished)) text += `closed\t${agency}\t${unfinished[agency].next}\t${unfinished[agency].stored}\n`;
  return Buffer.from(text, 'utf8');
}

/**
 * The canonical bytes of the draw, the chain's last link: its time, then
 * every winning document, by agency ascending and in bets.csv order within
 * an agency.
 *   draw\t<ISO 8601 UTC time>\n
 *   winner\t<agency>\t<document>\n
 */
export function drawBytes(at: string, winners: Record<string, readonly string[]>): Uint8Array {
  let text = `draw\t${at}\n`;
  for (const agency of ascendingIds(winners)) for (const document of winners[agency]) text += `winner\t${agency}\t${document}\n`;
  return Buffer.from(text, 'utf8');
}

const ascendingIds = (record: Record<string, unknown>) => Object.keys(record).sort((a, b) => Number(a) - Number(b));
