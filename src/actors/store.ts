// Store actor. Runs on the store worker thread (see store-worker.ts): the
// only writer of bets.csv and of its journal. Every call goes through its
// mailbox, so the files and the per-agency offsets need no locks.

import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { WINNING_NUMBER } from '../bets/bet.ts';
import { UploadDigest } from '../bets/upload-digest.ts';
import { logEvent, type Logger } from '../log/logger.ts';
import { encodeRecord, parseJournal, type CommitRecord, type JournalRecord } from '../storage/journal.ts';
import { scanWinners } from '../storage/winner-scan.ts';
import { ErrorCode } from '../wire/errors.ts';
import { Mailbox } from './mailbox.ts';

export const BETS_FILE = 'bets.csv';
export const JOURNAL_FILE = 'bets.journal';

export type AgencyState = { next: number; stored: number; finished: boolean };
/** Where an agency that says HELLO stands; once it has finished, the count and digest its FINISH was checked against. */
export type AgencyWelcome = { offset: number; finished: boolean; drawn: boolean; total?: number; digest?: string };
export type Winners = Record<string, string[]>;
/** The draw's outcome and the hash chain of the bets.csv it was drawn from. */
export type DrawOutcome = { winners: Winners; chain: string };

/** A batch for the Store: `rows` are its bets as bets.csv lines, or null for a batch refused as invalid. */
export type AppendRequest = { agency: number; offset: number; count: number; rows: Uint8Array | null };

export type Refusal = { status: 'rejected'; code: ErrorCode; message: string; next: number };
export type AppendOutcome =
  | { status: 'stored'; next: number; stored: number }
  | { status: 'duplicate'; next: number }
  | { status: 'refused'; next: number }
  | Refusal;
export type FinishOutcome = { status: 'finished'; total: number; digest: string } | Refusal;

/**
 * What the Store recovered, for the threads that start with it: each
 * agency's offsets and whether it finished, the draw if there was one, the
 * bets stored, and the hash chain over bets.csv.
 */
export type StoreSnapshot = { agencies: Record<string, AgencyState>; winners: Winners | null; bets: number; chain: string };
export type StoreOptions = {
  dataDir: string;
  fsync: boolean;
  log: Logger;
  /** How bets.csv and the journal are opened: fs.promises.open unless a test puts faults in between. */
  openFile?: (path: string, flags: number, mode: number) => Promise<FileHandle>;
  /** Told once if the Store fails for good (see #fail); the store worker dies of it. */
  onFailure?: (error: StoreFailedError) => void;
};

/** The store cannot start: what is on disk contradicts what was acknowledged. */
export class StoreRecoveryError extends Error {
  override name = 'StoreRecoveryError';
}

/** The Store failed in a way it cannot recover from while running: the server must restart into recovery. */
export class StoreFailedError extends Error {
  override name = 'StoreFailedError';
}

type Pending<T> = { resolve: (outcome: T) => void; reject: (error: unknown) => void };
type PendingWork =
  | ({ kind: 'append'; request: AppendRequest } & Pending<AppendOutcome>)
  | ({ kind: 'finish'; agency: number; total: number; digest: string } & Pending<FinishOutcome>);

/** The chain's value before the first commit. */
const CHAIN_START = '0'.repeat(64);
const READ_CHUNK = 4 * 1024 * 1024;

export class Store {
  readonly #mailbox = new Mailbox();
  readonly #csv: FileHandle;
  readonly #journal: FileHandle;
  readonly #csvPath: string;
  readonly #fsync: boolean;
  readonly #log: Logger;
  readonly #onFailure: StoreOptions['onFailure'];
  readonly #agencies = new Map<number, AgencyState>();
  /** Each agency's upload digest: SHA-256 over its stored rows in order (see upload-digest.ts). */
  readonly #digests = new Map<number, UploadDigest>();
  /** What each finished agency's FINISH was checked against. */
  readonly #finishes = new Map<number, { total: number; digest: string }>();
  #winners: Winners | null = null;
  #drawChain: string | null = null;
  #chain = CHAIN_START;
  #csvEnd = 0;
  #journalEnd = 0;
  #queue: PendingWork[] = [];
  #flushPosted = false;
  #closed = false;
  /** Set when the files may no longer match what the Store believes: every call fails from then on. */
  #failed: StoreFailedError | undefined;

  private constructor(csv: FileHandle, journal: FileHandle, csvPath: string, options: StoreOptions) {
    this.#csv = csv;
    this.#journal = journal;
    this.#csvPath = csvPath;
    this.#fsync = options.fsync;
    this.#log = options.log;
    this.#onFailure = options.onFailure;
  }

  /** Opens the data dir, replays the journal, checks bets.csv against it and cuts whatever was written but never committed. */
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
    // Read-write, not append: writes go to the committed end explicitly.
    const openFile = options.openFile ?? open;
    const csv = await openFile(csvPath, constants.O_RDWR | constants.O_CREAT, 0o644);
    const journal = await openFile(journalPath, constants.O_RDWR | constants.O_CREAT, 0o644);
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
      throw new StoreRecoveryError(`${(error as Error).message}; refusing to start rather than drop or take again acknowledged bets`);
    }
    const { records, starts, validLength, cut } = replay;
    records.forEach((record, i) => this.#apply(record, starts[i]));
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
    await this.#verifyChain(records, starts);
    if (csvSize > this.#csvEnd) {
      await this.#csv.truncate(this.#csvEnd);
      logEvent(this.#log, 'warn', 'recover_bets', 'fail', { cut_bytes: csvSize - this.#csvEnd, reason: 'written but never committed' });
    }
    if (this.#fsync && (cut !== undefined || csvSize > this.#csvEnd)) {
      await this.#csv.sync();
      await this.#journal.sync();
    }
    if (records.length > 0) {
      logEvent(this.#log, 'info', 'recover', 'success', {
        apuestas: this.#storedTotal(),
        agencias: this.#agencies.size,
        sorteo: this.#winners !== null,
        digest: this.#chain,
      });
    }
  }

  /**
   * Reads every committed byte of bets.csv once: recomputes the hash chain
   * and compares it with each commit record, so a change to any committed
   * byte is found and located; and rebuilds each agency's upload digest,
   * which is then checked against the ones its FINISH recorded.
   */
  async #verifyChain(records: JournalRecord[], starts: number[]): Promise<void> {
    const commits: Array<{ record: CommitRecord; at: number; index: number }> = [];
    records.forEach((record, i) => {
      if (record.kind === 'commit') commits.push({ record, at: starts[i], index: commits.length });
    });
    const rows = new RowsByAgency(this.#digests);
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    let chain = CHAIN_START;
    let position = 0;
    for (const { record, at, index } of commits) {
      const start = position;
      const hash = createHash('sha256').update(Buffer.from(chain, 'hex'));
      while (position < record.csvEnd) {
        const { bytesRead } = await this.#csv.read(buffer, 0, Math.min(READ_CHUNK, record.csvEnd - position), position);
        if (bytesRead === 0) throw new StoreRecoveryError(`${this.#csvPath} ended at byte ${position}, before the ${record.csvEnd} bytes committed`);
        const bytes = buffer.subarray(0, bytesRead);
        hash.update(bytes);
        rows.add(bytes);
        position += bytesRead;
      }
      chain = hash.digest('hex');
      if (chain !== record.chain) {
        throw new StoreRecoveryError(
          `${this.#csvPath} bytes ${start} to ${record.csvEnd} (group ${index + 1} of ${commits.length}, committed by the journal record at byte ${at}) ` +
            'do not match the hash chain: the file was changed after it was committed; refusing to start',
        );
      }
    }
    rows.end();
    this.#chain = chain;
    for (const [agency, finish] of this.#finishes) {
      const digest = this.#digestOf(agency).hex();
      if (digest !== finish.digest) {
        throw new StoreRecoveryError(`agency ${agency}'s rows in ${this.#csvPath} do not match the digest its FINISH was checked against; refusing to start`);
      }
    }
  }

  #apply(record: JournalRecord, at: number): void {
    switch (record.kind) {
      case 'commit':
        if (typeof record.chain !== 'string') {
          throw new StoreRecoveryError(
            `the journal record at byte ${at} has no hash chain: the journal was written by an earlier version of the server; ` +
              'finish that lottery with that version, or start this one with a new data dir',
          );
        }
        this.#csvEnd = record.csvEnd;
        for (const [agency, { next, stored }] of Object.entries(record.agencies)) {
          const state = this.#state(Number(agency));
          state.next = next;
          state.stored = stored;
        }
        for (const [agency, finish] of Object.entries(record.finished ?? {})) {
          this.#state(Number(agency)).finished = true;
          this.#finishes.set(Number(agency), finish);
        }
        break;
      case 'draw':
        this.#winners = record.winners;
        this.#drawChain = record.chain;
        break;
      default:
        throw new StoreRecoveryError(`the journal record at byte ${at} is of an unknown kind: the journal was written by another version of the server`);
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

  #digestOf(agency: number): UploadDigest {
    let digest = this.#digests.get(agency);
    if (digest === undefined) {
      digest = new UploadDigest();
      this.#digests.set(agency, digest);
    }
    return digest;
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
    const welcome: AgencyWelcome = { offset: next, finished, drawn: this.#winners !== null };
    const finish = this.#finishes.get(agency);
    return finish === undefined ? welcome : { ...welcome, ...finish };
  }

  snapshot(): StoreSnapshot {
    return {
      agencies: Object.fromEntries([...this.#agencies].map(([agency, state]) => [agency, { ...state }])),
      winners: this.#winners,
      bets: this.#storedTotal(),
      chain: this.#chain,
    };
  }

  /**
   * Takes one batch. Appends (and FINISHes) wait in a queue; one mailbox
   * turn takes everything waiting, writes it with one write, syncs once and
   * only then answers it all (group commit).
   */
  append(request: AppendRequest): Promise<AppendOutcome> {
    return this.#enqueue((pending) => ({ kind: 'append', request, ...pending }));
  }

  /** Takes several batches, in order, as that many append calls would; the outcomes in the same order. */
  appendAll(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    return Promise.all(requests.map((request) => this.append(request)));
  }

  /**
   * Records an agency's FINISH in the next group commit. `total` must be
   * every offset it used, and `digest` its upload digest (see
   * upload-digest.ts): the server then holds exactly the agency's rows.
   */
  finish(agency: number, total: number, digest: string): Promise<FinishOutcome> {
    return this.#enqueue((pending) => ({ kind: 'finish', agency, total, digest, ...pending }));
  }

  #enqueue<T>(work: (pending: Pending<T>) => PendingWork): Promise<T> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(new Error('the store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push(work({ resolve, reject } as Pending<T>));
      if (!this.#flushPosted) {
        this.#flushPosted = true;
        void this.#mailbox.post(() => this.#commitGroup());
      }
    });
  }

  async #commitGroup(): Promise<void> {
    this.#flushPosted = false;
    const group = this.#queue;
    this.#queue = [];
    if (this.#failed !== undefined) {
      for (const { reject } of group) reject(this.#failed);
      return;
    }
    // Decide everything against the offsets as they will be after the work
    // before it in the group, without touching the real state until the
    // group is on disk.
    const states = new Map<number, AgencyState>();
    const digests = new Map<number, UploadDigest>();
    const finished: Record<string, { total: number; digest: string }> = {};
    const outcomes: Array<AppendOutcome | FinishOutcome> = [];
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    for (const work of group) {
      const agency = work.kind === 'append' ? work.request.agency : work.agency;
      const state = states.get(agency) ?? this.status(agency);
      if (work.kind === 'finish') {
        const digest = (digests.get(agency) ?? this.#digestOf(agency)).hex();
        const outcome = this.#decideFinish(work, state, digest);
        outcomes.push(outcome);
        if (outcome.status === 'finished' && !state.finished) {
          state.finished = true;
          states.set(agency, state);
          finished[agency] = { total: outcome.total, digest: outcome.digest };
        }
        continue;
      }
      const { request } = work;
      const outcome = this.#decide(request, state);
      outcomes.push(outcome);
      if (outcome.status === 'stored' || outcome.status === 'refused') {
        states.set(agency, state);
        if (outcome.status === 'stored' && request.rows !== null) {
          const rows = skipRows(request.rows, request.count - outcome.stored);
          chunks.push(rows);
          bytes += rows.length;
          let digest = digests.get(agency);
          if (digest === undefined) digests.set(agency, (digest = this.#digestOf(agency).copy()));
          digest.add(rows, outcome.stored);
        }
      }
    }
    if (states.size > 0) {
      const hash = createHash('sha256').update(Buffer.from(this.#chain, 'hex'));
      for (const chunk of chunks) hash.update(chunk);
      const chain = hash.digest('hex');
      const agencies: Record<string, { next: number; stored: number }> = {};
      for (const [agency, { next, stored }] of states) agencies[agency] = { next, stored };
      const record: CommitRecord = { kind: 'commit', csvEnd: this.#csvEnd + bytes, chain, agencies };
      if (Object.keys(finished).length > 0) record.finished = finished;
      try {
        // bets.csv first, synced, then the record that commits it, synced:
        // a record on disk always means its bets are too.
        if (bytes > 0) await this.#write(this.#csv, chunks, this.#csvEnd, 'bets.csv');
        await this.#writeRecord(record);
      } catch (error) {
        for (const { reject } of group) reject(error);
        logEvent(this.#log, 'error', 'commit', 'fail', { error: (error as Error).message });
        await this.#undoGroup();
        return;
      }
      this.#csvEnd += bytes;
      this.#chain = chain;
      for (const [agency, state] of states) this.#agencies.set(agency, state);
      for (const [agency, digest] of digests) this.#digests.set(agency, digest);
      for (const [agency, finish] of Object.entries(finished)) this.#finishes.set(Number(agency), finish);
    }
    group.forEach(({ resolve }, i) => (resolve as (outcome: AppendOutcome | FinishOutcome) => void)(outcomes[i]));
  }

  /**
   * Puts both files back at their committed ends after a group failed, so
   * that nothing uncommitted stays in bets.csv for anyone to read (the draw,
   * an operator) and the next group starts from a clean end. If that fails
   * too, or a sync failed (after a failed fsync the kernel may have dropped
   * the written pages: what is on disk is unknown), the Store stops: the
   * server exits and recovery, which trusts only the disk, takes over.
   */
  async #undoGroup(): Promise<void> {
    try {
      if (this.#failed !== undefined) throw this.#failed;
      await this.#csv.truncate(this.#csvEnd);
      await this.#journal.truncate(this.#journalEnd);
    } catch (error) {
      this.#fail(`the uncommitted end of bets.csv or its journal could not be cut: ${(error as Error).message}`);
    }
  }

  #fail(reason: string): void {
    if (this.#failed !== undefined) return;
    this.#failed = new StoreFailedError(`the store failed and must restart into recovery: ${reason}`);
    for (const { reject } of this.#queue.splice(0)) reject(this.#failed);
    logEvent(this.#log, 'error', 'store', 'fail', { error: this.#failed.message });
    this.#onFailure?.(this.#failed);
  }

  /** Writes `chunks` at `position` and syncs; a failed sync is fatal (see #undoGroup). */
  async #write(handle: FileHandle, chunks: Uint8Array[], position: number, what: string): Promise<void> {
    await writeFully(handle, chunks, position);
    if (!this.#fsync) return;
    try {
      await handle.datasync();
    } catch (error) {
      this.#fail(`syncing ${what} failed: ${(error as Error).message}`);
      throw error;
    }
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

  #decideFinish({ agency, total, digest }: { agency: number; total: number; digest: string }, state: AgencyState, stored: string): FinishOutcome {
    const recorded = this.#finishes.get(agency);
    if (state.finished && recorded !== undefined && (recorded.total !== total || recorded.digest !== digest)) {
      return {
        status: 'rejected',
        code: ErrorCode.AGENCY_FINISHED,
        message: `agency ${agency} has already finished with ${recorded.total} bets and digest ${recorded.digest}, not ${total} and ${digest}`,
        next: state.next,
      };
    }
    if (total !== state.next) {
      return {
        status: 'rejected',
        code: ErrorCode.TOTAL_MISMATCH,
        message: `agency ${agency} says it used ${total} offsets but the server has taken ${state.next}`,
        next: state.next,
      };
    }
    if (digest !== stored) {
      return {
        status: 'rejected',
        code: ErrorCode.DIGEST_MISMATCH,
        message: `agency ${agency}'s rows as the server stored them (${state.stored} of ${state.next}) have digest ${stored}, the agency's are ${digest}: the server does not hold exactly the agency's rows`,
        next: state.next,
      };
    }
    return { status: 'finished', total, digest };
  }

  async #writeRecord(record: JournalRecord): Promise<void> {
    const line = Buffer.from(encodeRecord(record));
    await this.#write(this.#journal, [line], this.#journalEnd, 'bets.journal');
    this.#journalEnd += line.length;
  }

  /**
   * Runs the draw over bets.csv once and records its outcome; later calls,
   * and calls after a restart, answer the recorded outcome. The outcome
   * carries the hash chain of the bets it was drawn from, for the audit.
   */
  draw(agencies: number): Promise<DrawOutcome> {
    return this.#mailbox.post(async () => {
      if (this.#failed !== undefined) throw this.#failed;
      if (this.#winners !== null) return { winners: this.#winners, chain: this.#drawChain ?? this.#chain };
      const winners: Winners = {};
      for (let agency = 1; agency <= agencies; agency++) winners[agency] = [];
      await scanWinners(this.#csvPath, this.#csvEnd, WINNING_NUMBER, ({ agency, document }) => {
        (winners[agency] ??= []).push(document);
      });
      const chain = this.#chain;
      try {
        await this.#writeRecord({ kind: 'draw', winners, chain });
      } catch (error) {
        await this.#undoGroup();
        throw error;
      }
      this.#winners = winners;
      this.#drawChain = chain;
      return { winners, chain };
    });
  }

  /** Commits what is queued, syncs and closes the files. Safe to call twice. */
  close(): Promise<void> {
    if (this.#closed) return this.#mailbox.idle();
    this.#closed = true;
    return this.#mailbox.post(async () => {
      if (this.#queue.length > 0) await this.#commitGroup();
      if (this.#failed === undefined) {
        await this.#csv.sync();
        await this.#journal.sync();
      }
      await this.#csv.close();
      await this.#journal.close();
    });
  }
}

/**
 * Splits bytes of bets.csv, read from its start in chunks of any size, into
 * each agency's rows, and feeds every agency's digest its rows in file order
 * (which is offset order). Runs of one agency's rows go in one update.
 */
class RowsByAgency {
  readonly #digests: Map<number, UploadDigest>;
  #partial: Buffer = Buffer.alloc(0);

  constructor(digests: Map<number, UploadDigest>) {
    this.#digests = digests;
  }

  add(chunk: Buffer): void {
    const bytes = this.#partial.length > 0 ? Buffer.concat([this.#partial, chunk]) : chunk;
    let runStart = 0;
    let runAgency = -1;
    let runRows = 0;
    let at = 0;
    while (at < bytes.length) {
      const newline = bytes.indexOf(0x0a, at);
      if (newline < 0) break;
      const agency = leadingNumber(bytes, at);
      if (agency !== runAgency) {
        this.#feed(runAgency, bytes.subarray(runStart, at), runRows);
        runStart = at;
        runAgency = agency;
        runRows = 0;
      }
      runRows++;
      at = newline + 1;
    }
    this.#feed(runAgency, bytes.subarray(runStart, at), runRows);
    // Copied: the caller reuses its buffer.
    this.#partial = Buffer.from(bytes.subarray(at));
  }

  end(): void {
    if (this.#partial.length > 0) throw new StoreRecoveryError('bets.csv does not end with a whole row where the journal says it does');
  }

  #feed(agency: number, rows: Buffer, count: number): void {
    if (count === 0) return;
    let digest = this.#digests.get(agency);
    if (digest === undefined) this.#digests.set(agency, (digest = new UploadDigest()));
    digest.add(rows, count);
  }
}

/** The agency id at the start of a bets.csv row. */
function leadingNumber(bytes: Buffer, at: number): number {
  let value = 0;
  for (let i = at; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte < 0x30 || byte > 0x39) break;
    value = value * 10 + (byte - 0x30);
  }
  return value;
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
