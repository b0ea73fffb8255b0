// Recovery: the data dir read back when the Store starts, before it takes
// any call. It replays the journal (see journal.ts) and checks bets.csv
// against it with the check lottery-verify makes (data-replay.ts: the hash
// chain, every FINISH's digest, the draw's winners), and cuts the torn tail
// of a write never answered (settleEnds: a last record cut short, or the
// last commit whose bets were not all written). Whatever contradicts what was
// acknowledged stops the start (StoreRecoveryError) rather than drop or take
// again acknowledged bets. Runs on the store worker.
import { constants } from 'node:fs';
import { mkdir, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { UploadDigest } from '../bets/upload-digest.ts';
import type { Ledger } from '../ledger/index.ts';
import { logEvent, type Logger } from '../log/logger.ts';
import { checkFormat, replayDataDir, settleEnds } from './data-replay.ts';
import { exists, syncDirectory, writeFully } from './file-io.ts';
import { encodeRecord, JOURNAL_FORMAT, parseJournal } from './journal.ts';
import type { WinnersFromLines } from './winners-from-lines.ts';
import { StoredDataError, StoreRecoveryError } from '../errors.ts';

export const BETS_FILE = 'bets.csv';
export const JOURNAL_FILE = 'bets.journal';

/** What the data dir holds, as the Store starts from it. */
export type RecoveredState = {
  /** The journal's records applied, in order. */
  ledger: Ledger;
  /** Each agency's upload digest over its stored rows. */
  digests: Map<number, UploadDigest>;
  /** The winners among the committed bets, for the draw. */
  winners: WinnersFromLines;
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
  const { cut } = replay;
  let records, starts, validLength, dropped;
  try {
    checkFormat(replay.records);
  } catch (error) {
    throw new StoreRecoveryError((error as Error).message);
  }
  try {
    ({
      records,
      starts,
      droppedFrom: validLength = replay.validLength,
      dropped,
    } = settleEnds(replay.records, replay.starts, csvSize, csvPath, cut !== undefined));
  } catch (error) {
    throw new StoreRecoveryError(`${(error as Error).message}; refusing to start rather than cut or take again acknowledged bets`);
  }
  let replayed;
  try {
    replayed = await replayDataDir(
      records,
      starts,
      (buffer, length, position) => csv.read(buffer, 0, length, position).then((r) => r.bytesRead),
      csvPath,
    );
  } catch (error) {
    if (!(error instanceof StoredDataError)) throw error;
    throw new StoreRecoveryError(`${error.message}; refusing to start`);
  }
  const state: RecoveredState = {
    ledger: replayed.ledger,
    digests: replayed.digests,
    winners: replayed.winners,
    drawChain: replayed.drawChain,
    chain: replayed.chain,
    csvEnd: replayed.csvEnd,
    journalEnd: validLength,
  };
  // bets.csv first, then the record that committed its tail: cut the other
  // way round, a crash between the two would leave bytes past the last
  // record, which the next start takes for records removed.
  if (csvSize > state.csvEnd) {
    await csv.truncate(state.csvEnd);
    if (fsync) await csv.sync();
    logEvent(log, 'warn', 'recover_bets', 'fail', {
      cut_bytes: csvSize - state.csvEnd,
      reason: 'the last commit, cut short by a crash: never answered',
    });
  }
  if (cut !== undefined || dropped !== undefined) {
    await journal.truncate(validLength);
    logEvent(log, 'warn', 'recover_journal', 'fail', { cut: cut ?? dropped });
  }
  if (records.length === 0) {
    // A new journal (or one that never committed anything) starts with the format it is written in.
    const format = Buffer.from(encodeRecord({ kind: 'format', version: JOURNAL_FORMAT }));
    await writeFully(journal, [format], 0);
    state.journalEnd = format.length;
  }
  if (fsync && (cut !== undefined || dropped !== undefined || csvSize > state.csvEnd || records.length === 0)) {
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
