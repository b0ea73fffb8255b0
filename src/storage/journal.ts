import { crc32 } from 'node:zlib';

// The journal beside bets.csv records what the Store has committed: after
// each group, where bets.csv ends and each touched agency's offsets; an
// agency's FINISH; the draw's outcome. One record per line:
//   <crc32 of the JSON, 8 hex digits> <JSON>\n
// A record is committed once its newline is on disk. A torn or corrupt last
// line is an interrupted write and is cut; a corrupt line before the last
// means the file was damaged, and recovery stops rather than guess.

/**
 * After a group commit: bets.csv ends at `csvEnd`, and `crc` is the CRC-32 of
 * the bytes the group appended, from the previous commit's end to `csvEnd`.
 */
export type CommitRecord = { kind: 'commit'; csvEnd: number; crc: number; agencies: Record<string, { next: number; stored: number }> };
export type FinishRecord = { kind: 'finish'; agency: number; total: number };
export type DrawRecord = { kind: 'draw'; winners: Record<string, string[]> };
export type JournalRecord = CommitRecord | FinishRecord | DrawRecord;

export class JournalCorruptError extends Error {
  override name = 'JournalCorruptError';
}

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
      if (newline === content.length - 1) {
        return { records, starts, validLength: at, cut: `a corrupt last record (${newline + 1 - at} bytes)` };
      }
      throw new JournalCorruptError(`journal record at byte ${at} is corrupt and is not the last one: the journal is damaged`);
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
