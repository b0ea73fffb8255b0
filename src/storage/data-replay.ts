// The one check of a data dir against itself, shared by recovery (the
// Store's start) and lottery-verify (the audit): replays the journal's
// records through the ledger, reads every committed byte of bets.csv once
// as canonical lines, recomputes the hash chain link by link (commits, the
// close, the draw) and compares it with each record's, rebuilds each
// agency's upload digest and checks it against its FINISH, and finds the
// winners again and checks them against the draw's record. The first thing
// that differs throws a StoredDataError naming where. Reads only: how bytes
// are read is the caller's (a file handle, or another storage engine's rows
// laid out as bets.csv would have them).
import { CanonicalFromCsv, closeBytes, commitTail, drawBytes } from '../bets/canonical-bet.ts';
import { UploadDigest } from '../bets/upload-digest.ts';
import { Ledger } from '../ledger/index.ts';
import { DigestsFromBets } from './digests-from-bets.ts';
import { CHAIN_START, chainLink, nextChain } from './hash-chain.ts';
import { JOURNAL_FORMAT, type JournalRecord } from './journal.ts';
import { WinnersFromLines } from './winners-from-lines.ts';
import { StoredDataError } from '../errors.ts';

/** Reads up to `length` bytes of bets.csv at `position` into `buffer`; how many were read (0 at its end). */
export type ReadBets = (buffer: Buffer, length: number, position: number) => Promise<number>;

/** What the replay found: the state the records lead to, recomputed and checked. */
export type Replayed = {
  ledger: Ledger;
  /** Each agency's upload digest over its stored rows. */
  digests: Map<number, UploadDigest>;
  /** The winners in the committed bets (whether or not drawn yet). */
  winners: WinnersFromLines;
  /** The chain's value after the last record. */
  chain: string;
  /** The chain the draw was made at, if there was one. */
  drawChain: string | null;
  /** Where bets.csv's committed bytes end. */
  csvEnd: number;
  /** Commit groups in the journal. */
  groups: number;
};

const READ_CHUNK = 4 * 1024 * 1024;

/**
 * A journal that does not start with this format was written by another
 * version: its chain and digests mean something else, so it cannot be
 * checked, and is refused rather than taken as damaged.
 */
export function checkFormat(records: readonly JournalRecord[]): void {
  if (records.length === 0) return;
  const [first] = records;
  if (first.kind !== 'format') {
    throw new StoredDataError(
      'the journal was written by an earlier version of the server (its hash chain and upload digests are over the bytes of bets.csv): ' +
        'finish that lottery with that version, or start this one with a new data dir',
    );
  }
  if (first.version !== JOURNAL_FORMAT) {
    throw new StoredDataError(
      `the journal is in format ${first.version}, this server writes format ${JOURNAL_FORMAT}: ` +
        'finish that lottery with the version that wrote it, or start this one with a new data dir',
    );
  }
}

/** Where bets.csv's committed bytes end by the journal's last commit. */
export function committedCsvEnd(records: readonly JournalRecord[]): number {
  let end = 0;
  for (const record of records) if (record.kind === 'commit') end = record.csvEnd;
  return end;
}

/** The journal's records as far as they commit bets that are all in bets.csv. */
export type SettledEnds = {
  records: JournalRecord[];
  starts: number[];
  /** Where the journal's kept records end, if a record was dropped: the start of the first one dropped. */
  droppedFrom?: number;
  /** The record dropped, for the log, if one was. */
  dropped?: string;
};

/**
 * Tells an interrupted write from records removed, given the journal's
 * complete records and bets.csv's size (taken before the journal was read).
 * The Store writes and syncs a commit's record before the bets it commits,
 * and answers only once both are on disk; so a crash leaves at most the
 * last record's bets short (never answered: its record is dropped, and
 * bets.csv cut back to the record before), and never bytes of bets.csv past
 * the last record. Such bytes, or a bets.csv short of more than the last
 * record, mean what was acknowledged is not what the files hold: whole
 * records were removed from the journal's end, or bets.csv was cut or
 * added to. Throws StoredDataError naming which.
 */
export function settleEnds(
  records: readonly JournalRecord[],
  starts: readonly number[],
  csvSize: number,
  csvName: string,
  /** Whether the journal's last line was cut short (and is not among `records`). */
  tornLine: boolean,
): SettledEnds {
  const last = records.at(-1);
  const before = committedCsvEnd(records.slice(0, -1));
  if (!tornLine && last?.kind === 'commit' && Number.isSafeInteger(last.csvEnd) && csvSize < last.csvEnd && csvSize >= before) {
    return {
      records: records.slice(0, -1),
      starts: starts.slice(0, -1),
      droppedFrom: starts.at(-1)!,
      dropped: `the last commit record, ${csvSize - before} of whose ${last.csvEnd - before} bytes of bets reached ${csvName} (never answered)`,
    };
  }
  const end = committedCsvEnd(records);
  if (csvSize < end) {
    throw new StoredDataError(`${csvName} has ${csvSize} bytes but the journal records ${end}: acknowledged bets are missing from it`);
  }
  if (csvSize > end) {
    throw new StoredDataError(
      `${csvName} holds ${csvSize - end} bytes past byte ${end}, where the journal's last commit ends it; ` +
        'the server writes each commit record before its bets, so records that committed them were removed from the journal, or bets.csv was added to',
    );
  }
  return { records: [...records], starts: [...starts] };
}

/**
 * Replays `records` (starting at byte `starts[i]` of the journal) against
 * bets.csv read by `read`. `recordAt` names record i in a message; a store
 * with no journal file names its records its own way.
 */
export async function replayDataDir(
  records: readonly JournalRecord[],
  starts: readonly number[],
  read: ReadBets,
  csvName: string,
  recordAt: (index: number) => string = (index) => `the journal record at byte ${starts[index]}`,
): Promise<Replayed> {
  checkFormat(records);
  const ledger = new Ledger();
  const digestMap = new Map<number, UploadDigest>();
  const digests = new DigestsFromBets(digestMap);
  const winners = new WinnersFromLines();
  const canonical = new CanonicalFromCsv();
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  const groups = records.filter((record) => record.kind === 'commit').length;
  let chain = CHAIN_START;
  let drawChain: string | null = null;
  let position = 0;
  let group = 0;
  for (const [i, record] of records.entries()) {
    const where = recordAt(i);
    switch (record.kind) {
      case 'format':
        if (i !== 0) throw new StoredDataError(`${where} names a format, which only the first record does`);
        break;
      case 'commit': {
        group++;
        if (typeof record.chain !== 'string' || typeof record.at !== 'string' || !Number.isSafeInteger(record.csvEnd)) {
          throw new StoredDataError(`${where} (group ${group} of ${groups}) lacks its hash chain, time or end of bets.csv`);
        }
        if (ledger.closedAt !== null || ledger.drawn) {
          throw new StoredDataError(`${where} (group ${group} of ${groups}) commits bets after the sales close or the draw`);
        }
        const start = position;
        if (record.csvEnd < start)
          throw new StoredDataError(`${where} (group ${group} of ${groups}) ends bets.csv at ${record.csvEnd}, before the group before it`);
        const hash = chainLink(chain);
        while (position < record.csvEnd) {
          const bytesRead = await read(buffer, Math.min(READ_CHUNK, record.csvEnd - position), position);
          if (bytesRead === 0)
            throw new StoredDataError(
              `${csvName} ends at byte ${position}, before the ${record.csvEnd} bytes committed (group ${group} of ${groups})`,
            );
          let lines: Uint8Array;
          try {
            lines = canonical.push(buffer.subarray(0, bytesRead));
          } catch (error) {
            throw new StoredDataError(`${csvName} near byte ${position}: ${(error as Error).message}`);
          }
          hash.update(lines);
          digests.add(lines);
          winners.add(lines);
          position += bytesRead;
        }
        if (!canonical.ended) {
          throw new StoredDataError(
            `${csvName} does not end with a whole row at byte ${record.csvEnd}, where ${where} says group ${group} of ${groups} ends`,
          );
        }
        chain = hash.update(commitTail(record.agencies, record.finished, record.at)).digest('hex');
        if (chain !== record.chain) {
          throw new StoredDataError(
            `${csvName} bytes ${start} to ${record.csvEnd} (group ${group} of ${groups}, committed by ${where}) ` +
              'do not match the hash chain: the file or the record was changed after it was committed',
          );
        }
        ledger.apply(record);
        break;
      }
      case 'close':
        if (ledger.closedAt !== null || ledger.drawn) throw new StoredDataError(`${where} closes sales a second time, or after the draw`);
        chain = nextChain(chain, [], closeBytes(record.at, record.unfinished ?? {}));
        if (chain !== record.chain)
          throw new StoredDataError(`${where} (the sales close) does not match the hash chain: it was changed after it was written`);
        ledger.apply(record);
        break;
      case 'draw': {
        if (ledger.drawn) throw new StoredDataError(`${where} records a second draw`);
        if (record.chain !== chain) {
          throw new StoredDataError(`${where} (the draw) says it was drawn at chain ${record.chain}, but the chain there is ${chain}`);
        }
        const agencies = Object.keys(record.winners ?? {}).length;
        const found = winners.winners(agencies);
        if (JSON.stringify(found) !== JSON.stringify(normalised(record.winners, agencies))) {
          throw new StoredDataError(
            `${where} (the draw) names winners that are not those of the bets in ${csvName}: ${firstDifference(found, record.winners)}`,
          );
        }
        drawChain = chain;
        chain = nextChain(chain, [], drawBytes(record.at, record.winners));
        if (chain !== record.head)
          throw new StoredDataError(`${where} (the draw) does not match the hash chain: it was changed after it was written`);
        ledger.apply(record);
        break;
      }
      default:
        throw new StoredDataError(`${where} is of an unknown kind: the journal was written by another version of the server`);
    }
  }
  if (!digests.ended) throw new StoredDataError(`${csvName} does not end with a whole row where the journal says it does`);
  const known = ledger.agencies();
  for (const [agency, digest] of digestMap) {
    if (!known.has(agency))
      throw new StoredDataError(`${csvName} holds ${digest.rows} rows of agency ${agency}, of which the journal records none`);
  }
  for (const [agency, { finished, stored }] of known) {
    const rows = digestMap.get(agency)?.rows ?? 0;
    if (rows !== stored) {
      throw new StoredDataError(`${csvName} holds ${rows} rows of agency ${agency} but the journal records ${stored} stored`);
    }
    if (!finished) continue;
    const finish = ledger.finishOf(agency)!;
    const digest = (digestMap.get(agency) ?? new UploadDigest()).hex();
    if (digest !== finish.digest) {
      throw new StoredDataError(`agency ${agency}'s rows in ${csvName} do not match the digest its FINISH was checked against`);
    }
  }
  return { ledger, digests: digestMap, winners, chain, drawChain, csvEnd: position, groups };
}

/** The recorded winners keyed as WinnersFromLines keys them, for comparison. */
function normalised(winners: Record<string, string[]>, agencies: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let agency = 1; agency <= agencies; agency++) out[agency] = winners[agency] ?? [];
  for (const [agency, documents] of Object.entries(winners)) out[agency] ??= documents;
  return out;
}

/** The first agency whose winners differ, in words. */
export function firstDifference(found: Record<string, string[]>, recorded: Record<string, string[]>): string {
  const ids = [...new Set([...Object.keys(found), ...Object.keys(recorded)])].sort((a, b) => Number(a) - Number(b));
  for (const agency of ids) {
    const a = JSON.stringify(found[agency] ?? []);
    const b = JSON.stringify(recorded[agency] ?? []);
    if (a !== b) return `agency ${agency}: the bets give ${a}, the record says ${b}`;
  }
  return 'they differ in which agencies they name';
}
