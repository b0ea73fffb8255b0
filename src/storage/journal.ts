import { crc32 } from 'node:zlib';
import { JournalCorruptError } from '../errors.ts';

// The journal beside bets.csv records what the Store has committed: after
// each group, where bets.csv ends, the hash chain's value there, each touched
// agency's offsets and the FINISHes of the group; the draw's outcome. One
// record per line:
//   <crc32 of the JSON, 8 hex digits> <JSON>\n
// A record is committed once its newline is on disk. A last line with no
// newline is an interrupted write and is cut. A line that has its newline
// but fails its CRC, wherever it is, means the file was damaged after it
// was written, and recovery stops rather than guess (a cut there could drop
// acknowledged bets).

/**
 * After a group commit: bets.csv ends at `csvEnd`, and `chain` is the hash
 * chain over every committed byte of bets.csv, in hex: SHA-256 of the
 * previous commit's chain (32 zero bytes before the first) followed by the
 * bytes this group appended. `finished` lists the FINISHes that rode this
 * group, with the count and upload digest each was checked against.
 */
export type CommitRecord = {
  kind: 'commit';
  csvEnd: number;
  chain: string;
  agencies: Record<string, { next: number; stored: number }>;
  finished?: Record<string, { total: number; digest: string }>;
};
/** The draw's outcome, and the hash chain of the bets it was drawn from. */
export type DrawRecord = { kind: 'draw'; winners: Record<string, string[]>; chain: string };
export type JournalRecord = CommitRecord | DrawRecord;

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
