import { crc32 } from 'node:zlib';
import type { CloseRecord, CommitRecord, DrawRecord } from '../ledger/index.ts';
import { JournalCorruptError } from '../errors.ts';

// The journal beside bets.csv records what the Store has committed. Its
// first record names its format (JOURNAL_FORMAT); then after each group, where bets.csv ends, the hash chain's value there, each touched
// agency's offsets and the FINISHes of the group; the draw's outcome. One
// record per line:
//   <crc32 of the JSON, 8 hex digits> <JSON>\n
// A record is committed once its newline is on disk and, for a commit, the
// bets it commits (written after it) are all in bets.csv. A last line with
// no newline is an interrupted write and is cut (as is a last commit whose
// bets are not all there: see settleEnds in data-replay.ts). A line that has its newline
// but fails its CRC, wherever it is, means the file was damaged after it
// was written, and recovery stops rather than guess (a cut there could drop
// acknowledged bets).

/**
 * The journal's format: what its hash chain and upload digests are over.
 * Version 3: the canonical lines of src/bets/canonical-bet.ts; commits carry
 * their time, and the close and the draw are links of the chain. Version 2
 * had neither; a journal with no such first record was written by an
 * earlier server, whose chain and digests were over bets.csv's bytes.
 */
export const JOURNAL_FORMAT = 3;
export type JournalFormat = { kind: 'format'; version: number };

/**
 * A group commit (the ledger's record: each touched agency's offsets and
 * the FINISHes that rode the group) and after it, where bets.csv ends,
 * `csvEnd`, and the hash chain there, `chain` (see hash-chain.ts).
 */
export type JournalCommit = CommitRecord & { csvEnd: number; chain: string };
/** The sales close, and the hash chain once it is linked in (see hash-chain.ts). */
export type JournalClose = CloseRecord & { chain: string };
/**
 * The draw's outcome; `chain`, the hash chain of what it was drawn from
 * (the digest the draw publishes), and `head`, the chain once the draw
 * itself is linked in, which covers the winners.
 */
export type JournalDraw = DrawRecord & { chain: string; head: string };
export type JournalRecord = JournalFormat | JournalCommit | JournalClose | JournalDraw;

export function encodeRecord(record: JournalRecord): string {
  const json = JSON.stringify(record);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

export type JournalReplay = {
  records: JournalRecord[];
  /** Where each record starts in the file. */
  starts: number[];
  /** Bytes of the file that hold whole, valid records. */
  validLength: number;
  /** What was cut from the end, if anything: a description for the log. */
  cut?: string;
};

export function parseJournal(content: Buffer): JournalReplay {
  const records: JournalRecord[] = [];
  const starts: number[] = [];
  let at = 0;
  while (at < content.length) {
    const newline = content.indexOf(0x0a, at);
    if (newline < 0) {
      return { records, starts, validLength: at, cut: `a record cut short (${content.length - at} bytes with no end of line)` };
    }
    const record = decodeLine(content.subarray(at, newline).toString('utf8'));
    if (record === undefined) {
      const which = newline === content.length - 1 ? 'the last record, complete with its end of line,' : 'a record before the last';
      throw new JournalCorruptError(`journal record at byte ${at} (${which}) fails its check: the journal is damaged`);
    }
    records.push(record);
    starts.push(at);
    at = newline + 1;
  }
  return { records, starts, validLength: at };
}

function decodeLine(line: string): JournalRecord | undefined {
  const space = line.indexOf(' ');
  if (space !== 8) return undefined;
  const json = line.slice(9);
  if (crc32(json).toString(16).padStart(8, '0') !== line.slice(0, 8)) return undefined;
  try {
    const record = JSON.parse(json) as JournalRecord;
    return typeof record === 'object' && record !== null && typeof record.kind === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}
