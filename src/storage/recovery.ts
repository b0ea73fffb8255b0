// Recovery: the data dir read back when the Store starts, before it takes
// any call. It replays the journal (see journal.ts) through the ledger,
// checks every committed row of bets.csv (read back as canonical lines) and
// every commit against the hash chain, rebuilds each agency's upload
// digest and checks it against the one its FINISH recorded, and cuts what
// was written but never committed. Whatever contradicts what was
// acknowledged stops the start (StoreRecoveryError) rather than drop or take
// again acknowledged bets. Runs on the store worker.
import { constants } from 'node:fs';
import { mkdir, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CanonicalFromCsv, commitTail } from '../bets/canonical-bet.ts';
import { UploadDigest } from '../bets/upload-digest.ts';
import { Ledger } from '../ledger/index.ts';
import { logEvent, type Logger } from '../log/logger.ts';
import { DigestsFromBets } from './digests-from-bets.ts';
import { exists, syncDirectory, writeFully } from './file-io.ts';
import { CHAIN_START, chainLink } from './hash-chain.ts';
import { encodeRecord, JOURNAL_FORMAT, parseJournal, type JournalCommit, type JournalRecord } from './journal.ts';
import { StoreRecoveryError } from '../errors.ts';

export const BETS_FILE = 'bets.csv';
export const JOURNAL_FILE = 'bets.journal';

/** What the data dir holds, as the Store starts from it. */
export type RecoveredState = {
  /** The journal's records applied, in order. */
  ledger: Ledger;
  /** Each agency's upload digest over its stored rows. */
  digests: Map<number, UploadDigest>;
  /** The hash chain the draw was made at, if there was one. */
  drawChain: string | null;
  chain: string;
  csvEnd: number;
  journalEnd: number;
};

/** bets.csv and its journal, open read-write: writes go to the committed end explicitly. */
export type DataDirFiles = { csv: FileHandle; journal: FileHandle; csvPath: string };

export type RecoveryOptions = {
  dataDir: string;
  fsync: boolean;
  log: Logger;
  /** How bets.csv and the journal are opened: fs.promises.open unless a test puts faults in between. */
  openFile?: (path: string, flags: number, mode: number) => Promise<FileHandle>;
};

const READ_CHUNK = 4 * 1024 * 1024;

/** Opens the data dir (making it if need be) and recovers what it holds; the files stay open for the Store. */
export async function openDataDir(options: RecoveryOptions): Promise<DataDirFiles & { state: RecoveredState }> {
  await mkdir(options.dataDir, { recursive: true });
  const csvPath = join(options.dataDir, BETS_FILE);
  const journalPath = join(options.dataDir, JOURNAL_FILE);
  const journalExisted = await exists(journalPath);
  const csvSize = (await exists(csvPath)) ? (await stat(csvPath)).size : 0;
  if (!journalExisted && csvSize > 0) {
    throw new StoreRecoveryError(
      `${csvPath} holds ${csvSize} bytes but there is no ${JOURNAL_FILE} beside it: ` +
        'it was not written by this server, or its journal was removed; move it away to start afresh',
    );
  }
  const openFile = options.openFile ?? open;
  const csv = await openFile(csvPath, constants.O_RDWR | constants.O_CREAT, 0o644);
  const journal = await openFile(journalPath, constants.O_RDWR | constants.O_CREAT, 0o644);
  const files = { csv, journal, csvPath };
  try {
    const state = await recover(files, await readFile(journalPath), csvSize, options);
    if (options.fsync && !journalExisted) await syncDirectory(options.dataDir);
    return { ...files, state };
  } catch (error) {
    await Promise.allSettled([csv.close(), journal.close()]);
    throw error;
  }
}

async function recover(
  { csv, journal, csvPath }: DataDirFiles,
  journalContent: Buffer,
  csvSize: number,
  { fsync, log }: RecoveryOptions,
): Promise<RecoveredState> {
  let replay;
  try {
    replay = parseJournal(journalContent);
  } catch (error) {
    throw new StoreRecoveryError(`${(error as Error).message}; refusing to start rather than drop or take again acknowledged bets`);
  }
  const { records, starts, validLength, cut } = replay;
  const state: RecoveredState = {
    ledger: new Ledger(),
    digests: new Map(),
    drawChain: null,
    chain: CHAIN_START,
    csvEnd: 0,
    journalEnd: validLength,
  };
  checkFormat(records);
  records.forEach((record, i) => apply(state, record, starts[i]));
  if (cut !== undefined) {
    await journal.truncate(validLength);
    logEvent(log, 'warn', 'recover_journal', 'fail', { cut });
  }
  if (csvSize < state.csvEnd) {
    throw new StoreRecoveryError(
      `${csvPath} has ${csvSize} bytes but the journal records ${state.csvEnd}: acknowledged bets are missing from it; ` +
        'refusing to start rather than take bets again on top of a damaged file',
    );
  }
  await verifyBets(state, records, starts, csv, csvPath);
  if (csvSize > state.csvEnd) {
    await csv.truncate(state.csvEnd);
    logEvent(log, 'warn', 'recover_bets', 'fail', { cut_bytes: csvSize - state.csvEnd, reason: 'written but never committed' });
  }
  if (records.length === 0) {
    // A new journal (or one that never committed anything) starts with the format it is written in.
    const format = Buffer.from(encodeRecord({ kind: 'format', version: JOURNAL_FORMAT }));
    await writeFully(journal, [format], 0);
    state.journalEnd = format.length;
  }
  if (fsync && (cut !== undefined || csvSize > state.csvEnd || records.length === 0)) {
    await csv.sync();
    await journal.sync();
  }
  if (records.length > 1) {
    logEvent(log, 'info', 'recover', 'success', {
      apuestas: state.ledger.bets,
      agencias: state.ledger.agencies().size,
      sorteo: state.ledger.drawn,
      digest: state.chain,
    });
  }
  return state;
}

/**
 * A journal that does not start with this server's format was written by
 * another version: its chain and digests mean something else, so it cannot
 * be checked, and is refused rather than taken as damaged.
 */
function checkFormat(records: readonly JournalRecord[]): void {
  if (records.length === 0) return;
  const [first] = records;
  if (first.kind !== 'format') {
    throw new StoreRecoveryError(
      'the journal was written by an earlier version of the server (its hash chain and upload digests are over the bytes of bets.csv): ' +
        'finish that lottery with that version, or start this one with a new data dir',
    );
  }
  if (first.version !== JOURNAL_FORMAT) {
    throw new StoreRecoveryError(
      `the journal is in format ${first.version}, this server writes format ${JOURNAL_FORMAT}: ` +
        'finish that lottery with the version that wrote it, or start this one with a new data dir',
    );
  }
}

/** Replays one journal record: the ledger applies it; where bets.csv ends and the draw's chain are the journal's own. */
function apply(state: RecoveredState, record: JournalRecord, at: number): void {
  switch (record.kind) {
    case 'commit':
      if (typeof record.chain !== 'string') {
        throw new StoreRecoveryError(
          `the journal record at byte ${at} has no hash chain: the journal was written by an earlier version of the server; ` +
            'finish that lottery with that version, or start this one with a new data dir',
        );
      }
      state.csvEnd = record.csvEnd;
      state.ledger.apply(record);
      break;
    case 'draw':
      state.ledger.apply(record);
      state.drawChain = record.chain;
      break;
    case 'format':
      if (at !== 0) throw new StoreRecoveryError(`the journal record at byte ${at} names a format, which only the first record does`);
      break;
    default:
      throw new StoreRecoveryError(
        `the journal record at byte ${at} is of an unknown kind: the journal was written by another version of the server`,
      );
  }
}

/**
 * Reads every committed byte of bets.csv once: recomputes the hash chain
 * and compares it with each commit record, so a change to any committed
 * byte is found and located; and rebuilds each agency's upload digest,
 * which is then checked against the ones its FINISH recorded.
 */
async function verifyBets(
  state: RecoveredState,
  records: JournalRecord[],
  starts: number[],
  csv: FileHandle,
  csvPath: string,
): Promise<void> {
  const commits: Array<{ record: JournalCommit; at: number; index: number }> = [];
  records.forEach((record, i) => {
    if (record.kind === 'commit') commits.push({ record, at: starts[i], index: commits.length });
  });
  const digests = new DigestsFromBets(state.digests);
  const canonical = new CanonicalFromCsv();
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  let chain = CHAIN_START;
  let position = 0;
  for (const { record, at, index } of commits) {
    const start = position;
    const hash = chainLink(chain);
    while (position < record.csvEnd) {
      const { bytesRead } = await csv.read(buffer, 0, Math.min(READ_CHUNK, record.csvEnd - position), position);
      if (bytesRead === 0)
        throw new StoreRecoveryError(`${csvPath} ended at byte ${position}, before the ${record.csvEnd} bytes committed`);
      let lines: Uint8Array;
      try {
        lines = canonical.push(buffer.subarray(0, bytesRead));
      } catch (error) {
        throw new StoreRecoveryError(`${csvPath} near byte ${position}: ${(error as Error).message}; refusing to start`);
      }
      hash.update(lines);
      digests.add(lines);
      position += bytesRead;
    }
    if (!canonical.ended) {
      throw new StoreRecoveryError(
        `${csvPath} does not end with a whole row at byte ${record.csvEnd}, where the journal record at byte ${at} says a group ends; refusing to start`,
      );
    }
    chain = hash.update(commitTail(record.agencies, record.finished)).digest('hex');
    if (chain !== record.chain) {
      throw new StoreRecoveryError(
        `${csvPath} bytes ${start} to ${record.csvEnd} (group ${index + 1} of ${commits.length}, committed by the journal record at byte ${at}) ` +
          'do not match the hash chain: the file was changed after it was committed; refusing to start',
      );
    }
  }
  if (!digests.ended) throw new StoreRecoveryError('bets.csv does not end with a whole row where the journal says it does');
  state.chain = chain;
  for (const [agency, { finished }] of state.ledger.agencies()) {
    if (!finished) continue;
    const finish = state.ledger.finishOf(agency)!;
    const digest = (state.digests.get(agency) ?? new UploadDigest()).hex();
    if (digest !== finish.digest) {
      throw new StoreRecoveryError(
        `agency ${agency}'s rows in ${csvPath} do not match the digest its FINISH was checked against; refusing to start`,
      );
    }
  }
}
