// Store actor. Runs on the store worker thread (see store-worker.ts): the
// only writer of bets.csv and of its journal. Every call goes through its
// mailbox, so the files and the per-agency offsets need no locks.

import { constants } from 'node:fs';
import { mkdir, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { WINNING_NUMBER } from '../bets/bet.ts';
import { logEvent, type Logger } from '../log/logger.ts';
import { encodeRecord, parseJournal, type CommitRecord, type JournalRecord } from '../storage/journal.ts';
import { scanWinners } from '../storage/winner-scan.ts';
import { ErrorCode } from '../wire/errors.ts';
import { Mailbox } from './mailbox.ts';

export const BETS_FILE = 'bets.csv';
export const JOURNAL_FILE = 'bets.journal';

export type AgencyState = { next: number; stored: number; finished: boolean };
/** Where an agency that says HELLO stands. */
export type AgencyWelcome = { offset: number; finished: boolean; drawn: boolean };
export type Winners = Record<string, string[]>;

/** A batch for the Store: `rows` are its bets as bets.csv lines, or null for a batch refused as invalid. */
export type AppendRequest = { agency: number; offset: number; count: number; rows: Uint8Array | null };

export type Refusal = { status: 'rejected'; code: ErrorCode; message: string; next: number };
export type AppendOutcome =
  | { status: 'stored'; next: number; stored: number }
  | { status: 'duplicate'; next: number }
  | { status: 'refused'; next: number }
  | Refusal;
export type FinishOutcome = { status: 'finished'; total: number } | Refusal;

export type StoreSnapshot = { agencies: Record<string, AgencyState>; winners: Winners | null; bets: number };
export type StoreOptions = { dataDir: string; fsync: boolean; log: Logger };

/** The store cannot start: what is on disk contradicts what was acknowledged. */
export class StoreRecoveryError extends Error {
  override name = 'StoreRecoveryError';
}

type PendingAppend = { request: AppendRequest; resolve: (outcome: AppendOutcome) => void; reject: (error: unknown) => void };

export class Store {
  readonly #mailbox = new Mailbox();
  readonly #csv: FileHandle;
  readonly #journal: FileHandle;
  readonly #csvPath: string;
  readonly #fsync: boolean;
  readonly #log: Logger;
  readonly #agencies = new Map<number, AgencyState>();
  #winners: Winners | null = null;
  #csvEnd = 0;
  #journalEnd = 0;
  #queue: PendingAppend[] = [];
  #flushPosted = false;
  #closed = false;

  private constructor(csv: FileHandle, journal: FileHandle, csvPath: string, options: StoreOptions) {
    this.#csv = csv;
    this.#journal = journal;
    this.#csvPath = csvPath;
    this.#fsync = options.fsync;
    this.#log = options.log;
  }

  /** Opens the data dir, replays the journal and cuts whatever was written but never committed. */
  static async open(options: StoreOptions): Promise<Store> {
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
    // Read-write, not append: writes go to the committed end explicitly, so
    // a group that failed halfway is simply written over by the next one.
    const csv = await open(csvPath, constants.O_RDWR | constants.O_CREAT, 0o644);
    const journal = await open(journalPath, constants.O_RDWR | constants.O_CREAT, 0o644);
    const store = new Store(csv, journal, csvPath, options);
    try {
      await store.#recover(await readFile(journalPath), csvSize);
      if (options.fsync && !journalExisted) await syncDirectory(options.dataDir);
    } catch (error) {
      await Promise.allSettled([csv.close(), journal.close()]);
      throw error;
    }
    return store;
  }

  async #recover(journalContent: Buffer, csvSize: number): Promise<void> {
    let replay;
    try {
      replay = parseJournal(journalContent);
    } catch (error) {
      throw new StoreRecoveryError((error as Error).message);
    }
    const { records, validLength, cut } = replay;
    for (const record of records) this.#apply(record);
    this.#journalEnd = validLength;
    if (cut !== undefined) {
      await this.#journal.truncate(validLength);
      logEvent(this.#log, 'warn', 'recover_journal', 'fail', { cut });
    }
    if (csvSize < this.#csvEnd) {
      throw new StoreRecoveryError(
        `${this.#csvPath} has ${csvSize} bytes but the journal records ${this.#csvEnd}: acknowledged bets are missing from it; ` +
          'refusing to start rather than take bets again on top of a damaged file',
      );
    }
    // bets.csv is synced before the record that commits it is written, so the
    // last group's bytes are on disk whenever its record is; if they do not
    // match the record's CRC, the file was damaged after the fact.
    const commits = records.filter((record): record is CommitRecord => record.kind === 'commit');
    const lastCommit = commits.at(-1);
    if (lastCommit !== undefined && !(await this.#csvHolds(commits.at(-2)?.csvEnd ?? 0, lastCommit))) {
      throw new StoreRecoveryError(
        `the last bets committed to ${this.#csvPath} (up to byte ${lastCommit.csvEnd}) do not match the journal's checksum: ` +
          'the file was damaged; refusing to start rather than take bets again on top of it',
      );
    }
    if (csvSize > this.#csvEnd) {
      await this.#csv.truncate(this.#csvEnd);
      logEvent(this.#log, 'warn', 'recover_bets', 'fail', { cut_bytes: csvSize - this.#csvEnd, reason: 'written but never committed' });
    }
    if (this.#fsync && (cut !== undefined || csvSize > this.#csvEnd)) {
      await this.#csv.sync();
      await this.#journal.sync();
    }
    if (records.length > 0) {
      logEvent(this.#log, 'info', 'recover', 'success', { apuestas: this.#storedTotal(), agencias: this.#agencies.size, sorteo: this.#winners !== null });
    }
  }

  /** Whether bets.csv holds, intact, the bytes a commit appended from `start`. */
  async #csvHolds(start: number, last: CommitRecord): Promise<boolean> {
    const bytes = Buffer.alloc(last.csvEnd - start);
    const { bytesRead } = await this.#csv.read(bytes, 0, bytes.length, start);
    return bytesRead === bytes.length && crc32(bytes) === last.crc;
  }

  #apply(record: JournalRecord): void {
    switch (record.kind) {
      case 'commit':
        this.#csvEnd = record.csvEnd;
        for (const [agency, { next, stored }] of Object.entries(record.agencies)) {
          const state = this.#state(Number(agency));
          state.next = next;
          state.stored = stored;
        }
        break;
      case 'finish':
        this.#state(record.agency).finished = true;
        break;
      case 'draw':
        this.#winners = record.winners;
        break;
    }
  }

  #state(agency: number): AgencyState {
    let state = this.#agencies.get(agency);
    if (state === undefined) {
      state = { next: 0, stored: 0, finished: false };
      this.#agencies.set(agency, state);
    }
    return state;
  }

  #storedTotal(): number {
    let total = 0;
    for (const state of this.#agencies.values()) total += state.stored;
    return total;
  }

  status(agency: number): AgencyState {
    return { ...(this.#agencies.get(agency) ?? { next: 0, stored: 0, finished: false }) };
  }

  /** What an agency is told when it says HELLO. */
  welcome(agency: number): AgencyWelcome {
    const { next, finished } = this.status(agency);
    return { offset: next, finished, drawn: this.#winners !== null };
  }

  snapshot(): StoreSnapshot {
    return {
      agencies: Object.fromEntries([...this.#agencies].map(([agency, state]) => [agency, { ...state }])),
      winners: this.#winners,
      bets: this.#storedTotal(),
    };
  }

  /**
   * Takes one batch. Appends wait in a queue; one mailbox turn takes every
   * append waiting, writes them with one write, syncs once and only then
   * answers them all (group commit).
   */
  append(request: AppendRequest): Promise<AppendOutcome> {
    if (this.#closed) return Promise.reject(new Error('the store is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      if (!this.#flushPosted) {
        this.#flushPosted = true;
        void this.#mailbox.post(() => this.#commitGroup());
      }
    });
  }

  /** Takes several batches, in order, as that many append calls would; the outcomes in the same order. */
  appendAll(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    return Promise.all(requests.map((request) => this.append(request)));
  }

  async #commitGroup(): Promise<void> {
    this.#flushPosted = false;
    const group = this.#queue;
    this.#queue = [];
    // Decide every append against the offsets as they will be after the
    // appends before it in the group, without touching the real state until
    // the group is on disk.
    const states = new Map<number, AgencyState>();
    const outcomes: AppendOutcome[] = [];
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    for (const { request } of group) {
      const state = states.get(request.agency) ?? this.status(request.agency);
      const outcome = this.#decide(request, state);
      outcomes.push(outcome);
      if (outcome.status === 'stored' || outcome.status === 'refused') {
        states.set(request.agency, state);
        if (outcome.status === 'stored' && request.rows !== null) {
          const rows = skipRows(request.rows, request.count - outcome.stored);
          chunks.push(rows);
          bytes += rows.length;
        }
      }
    }
    try {
      if (states.size > 0) {
        const agencies: Record<string, { next: number; stored: number }> = {};
        for (const [agency, { next, stored }] of states) agencies[agency] = { next, stored };
        let crc = 0;
        for (const chunk of chunks) crc = crc32(chunk, crc);
        // bets.csv first, synced, then the record that commits it, synced:
        // a record on disk always means its bets are too.
        if (bytes > 0) {
          await writeFully(this.#csv, chunks, this.#csvEnd);
          if (this.#fsync) await this.#csv.datasync();
        }
        await this.#writeRecord({ kind: 'commit', csvEnd: this.#csvEnd + bytes, crc, agencies });
        this.#csvEnd += bytes;
        for (const [agency, state] of states) this.#agencies.set(agency, state);
      }
    } catch (error) {
      // Nothing of this group is committed: the next group writes over any
      // bytes it left past the committed ends.
      for (const { reject } of group) reject(error);
      logEvent(this.#log, 'error', 'commit', 'fail', { error: (error as Error).message });
      return;
    }
    group.forEach(({ resolve }, i) => resolve(outcomes[i]));
  }

  #decide(request: AppendRequest, state: AgencyState): AppendOutcome {
    const { agency, offset, count } = request;
    if (this.#winners !== null) {
      return { status: 'rejected', code: ErrorCode.DRAW_DONE, message: 'the draw has taken place: no more bets are taken', next: state.next };
    }
    if (state.finished) {
      return { status: 'rejected', code: ErrorCode.AGENCY_FINISHED, message: `agency ${agency} has finished: no more bets are taken from it`, next: state.next };
    }
    const end = offset + count;
    if (end <= state.next) return { status: 'duplicate', next: state.next };
    if (offset > state.next) {
      return { status: 'rejected', code: ErrorCode.OFFSET_GAP, message: `batch starts at ${offset} but the next bet expected is ${state.next}`, next: state.next };
    }
    // A batch that overlaps what is stored (resent with other boundaries)
    // stores only its new tail.
    const fresh = end - state.next;
    state.next = end;
    if (request.rows === null) return { status: 'refused', next: end };
    state.stored += fresh;
    return { status: 'stored', next: end, stored: fresh };
  }

  async #writeRecord(record: JournalRecord): Promise<void> {
    const line = Buffer.from(encodeRecord(record));
    await writeFully(this.#journal, [line], this.#journalEnd);
    if (this.#fsync) await this.#journal.datasync();
    this.#journalEnd += line.length;
  }

  /** Records an agency's FINISH; `total` must be every offset it used. */
  finish(agency: number, total: number): Promise<FinishOutcome> {
    return this.#mailbox.post(async () => {
      const state = this.status(agency);
      if (state.finished) return { status: 'finished', total: state.next };
      if (total !== state.next) {
        return {
          status: 'rejected',
          code: ErrorCode.TOTAL_MISMATCH,
          message: `agency ${agency} says it sent ${total} bets but the server has taken ${state.next}`,
          next: state.next,
        } as const;
      }
      await this.#writeRecord({ kind: 'finish', agency, total });
      this.#state(agency).finished = true;
      return { status: 'finished', total };
    });
  }

  /**
   * Runs the draw over bets.csv once and records its outcome; later calls,
   * and calls after a restart, answer the recorded outcome.
   */
  draw(agencies: number): Promise<Winners> {
    return this.#mailbox.post(async () => {
      if (this.#winners !== null) return this.#winners;
      const winners: Winners = {};
      for (let agency = 1; agency <= agencies; agency++) winners[agency] = [];
      await scanWinners(this.#csvPath, this.#csvEnd, WINNING_NUMBER, ({ agency, document }) => {
        (winners[agency] ??= []).push(document);
      });
      await this.#writeRecord({ kind: 'draw', winners });
      this.#winners = winners;
      return winners;
    });
  }

  /** Commits what is queued, syncs and closes the files. Safe to call twice. */
  close(): Promise<void> {
    if (this.#closed) return this.#mailbox.idle();
    this.#closed = true;
    return this.#mailbox.post(async () => {
      if (this.#queue.length > 0) await this.#commitGroup();
      await this.#csv.sync();
      await this.#journal.sync();
      await this.#csv.close();
      await this.#journal.close();
    });
  }
}

/** Drops the first `count` lines: a row never spans lines (see bets-csv.ts). */
function skipRows(rows: Uint8Array, count: number): Uint8Array {
  let at = 0;
  for (let i = 0; i < count; i++) at = rows.indexOf(0x0a, at) + 1;
  return rows.subarray(at);
}

async function writeFully(handle: FileHandle, chunks: Uint8Array[], position: number): Promise<void> {
  let buffers = chunks;
  while (buffers.length > 0) {
    const { bytesWritten } = await handle.writev(buffers, position);
    position += bytesWritten;
    let left = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const buffer of buffers) {
      if (left >= buffer.length) left -= buffer.length;
      else {
        rest.push(buffer.subarray(left));
        left = 0;
      }
    }
    buffers = rest;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
