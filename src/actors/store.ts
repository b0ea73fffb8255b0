// Store actor. Runs on the store worker thread (see store-worker.ts): the
// only writer of bets.csv and of its journal. Appends and FINISHes queue up
// and are decided, written and synced a group at a time, in one mailbox
// turn each (group commit); the draw and close are mailbox turns too. So
// the files and the per-agency offsets need no locks. The mechanics live in
// src/storage: recovery at start (recovery.ts), the journal's format, the
// hash chain, positioned writes.

import type { FileHandle } from 'node:fs/promises';
import { WINNING_NUMBER } from '../bets/bet.ts';
import { skipRows } from '../bets/bets-csv.ts';
import { UploadDigest } from '../bets/upload-digest.ts';
import { logEvent, type Logger } from '../log/logger.ts';
import { writeFully } from '../storage/file-io.ts';
import { nextChain } from '../storage/hash-chain.ts';
import { encodeRecord, type CommitRecord, type JournalRecord } from '../storage/journal.ts';
import {
  openDataDir,
  storedTotal,
  type AgencyState,
  type FinishRecorded,
  type RecoveredState,
  type RecoveryOptions,
  type Winners,
} from '../storage/recovery.ts';
import { scanWinners } from '../storage/winner-scan.ts';
import { Mailbox } from './mailbox.ts';
import { ErrorCode, StoreFailedError } from '../errors.ts';

export { BETS_FILE, JOURNAL_FILE, type AgencyState, type Winners } from '../storage/recovery.ts';

export type AgencyWelcome = { offset: number; finished: boolean; drawn: boolean; total?: number; digest?: string };
/** The draw's outcome and the hash chain of the bets.csv it was drawn from. */
export type DrawOutcome = { winners: Winners; chain: string };

/** A batch for the Store: `rows` are its bets as bets.csv lines, or null for a batch refused as invalid. */
export type AppendRequest = { agency: number; offset: number; count: number; rows: Uint8Array | null };

/** The Store refuses the request: the code and message the agency is told, and the offset it stands at. */
export type Rejection = { status: 'rejected'; code: ErrorCode; message: string; next: number };
export type AppendOutcome =
  | { status: 'stored'; next: number; stored: number }
  | { status: 'duplicate'; next: number }
  /** A batch with an invalid bet: its offsets are used, none of it is stored. */
  | { status: 'invalid'; next: number }
  | Rejection;
export type FinishOutcome = { status: 'finished'; total: number; digest: string } | Rejection;

/**
 * What the Store recovered, for the threads that start with it: each
 * agency's offsets and whether it finished, the draw if there was one, the
 * bets stored, and the hash chain over bets.csv.
 */
export type StoreSnapshot = { agencies: Record<string, AgencyState>; winners: Winners | null; bets: number; chain: string };
export type StoreOptions = RecoveryOptions & {
  /** Told once if the Store fails for good (see #fail); the store worker dies of it. */
  onFailure?: (error: StoreFailedError) => void;
};

type Pending<T> = { resolve: (outcome: T) => void; reject: (error: unknown) => void };
type PendingWork =
  | ({ kind: 'append'; request: AppendRequest } & Pending<AppendOutcome>)
  | ({ kind: 'finish'; agency: number; total: number; digest: string } & Pending<FinishOutcome>);

export class Store {
  readonly #mailbox = new Mailbox();
  readonly #csv: FileHandle;
  readonly #journal: FileHandle;
  readonly #csvPath: string;
  readonly #fsync: boolean;
  readonly #log: Logger;
  readonly #onFailure: StoreOptions['onFailure'];
  readonly #agencies: Map<number, AgencyState>;
  /** Each agency's upload digest: SHA-256 over its stored rows in order (see upload-digest.ts). */
  readonly #digests: Map<number, UploadDigest>;
  /** What each finished agency's FINISH was checked against. */
  readonly #finishes: Map<number, FinishRecorded>;
  #winners: Winners | null;
  #drawChain: string | null;
  /** The hash chain over bets.csv up to #csvEnd (see hash-chain.ts). */
  #chain: string;
  #csvEnd: number;
  #journalEnd: number;
  #queue: PendingWork[] = [];
  #flushPosted = false;
  #closed = false;
  /** Set when the files may no longer match what the Store believes: every call fails from then on. */
  #failed: StoreFailedError | undefined;

  private constructor(csv: FileHandle, journal: FileHandle, csvPath: string, state: RecoveredState, options: StoreOptions) {
    this.#csv = csv;
    this.#journal = journal;
    this.#csvPath = csvPath;
    this.#fsync = options.fsync;
    this.#log = options.log;
    this.#onFailure = options.onFailure;
    this.#agencies = state.agencies;
    this.#digests = state.digests;
    this.#finishes = state.finishes;
    this.#winners = state.winners;
    this.#drawChain = state.drawChain;
    this.#chain = state.chain;
    this.#csvEnd = state.csvEnd;
    this.#journalEnd = state.journalEnd;
  }

  /** Opens the data dir and recovers it (see recovery.ts): a Store that starts where the last one committed. */
  static async open(options: StoreOptions): Promise<Store> {
    const { csv, journal, csvPath, state } = await openDataDir(options);
    return new Store(csv, journal, csvPath, state, options);
  }

  #digestOf(agency: number): UploadDigest {
    let digest = this.#digests.get(agency);
    if (digest === undefined) {
      digest = new UploadDigest();
      this.#digests.set(agency, digest);
    }
    return digest;
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
      bets: storedTotal(this.#agencies),
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
    const finished: Record<string, FinishRecorded> = {};
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
      if (outcome.status === 'stored' || outcome.status === 'invalid') {
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
      const chain = nextChain(this.#chain, chunks);
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
      return {
        status: 'rejected',
        code: ErrorCode.DRAW_DONE,
        message: 'the draw has taken place: no more bets are taken',
        next: state.next,
      };
    }
    if (state.finished) {
      return {
        status: 'rejected',
        code: ErrorCode.AGENCY_FINISHED,
        message: `agency ${agency} has finished: no more bets are taken from it`,
        next: state.next,
      };
    }
    const end = offset + count;
    if (end <= state.next) return { status: 'duplicate', next: state.next };
    if (offset > state.next) {
      return {
        status: 'rejected',
        code: ErrorCode.OFFSET_GAP,
        message: `batch starts at ${offset} but the next bet expected is ${state.next}`,
        next: state.next,
      };
    }
    // A batch that overlaps what is stored (resent with other boundaries)
    // stores only its new tail.
    const fresh = end - state.next;
    state.next = end;
    if (request.rows === null) return { status: 'invalid', next: end };
    state.stored += fresh;
    return { status: 'stored', next: end, stored: fresh };
  }

  #decideFinish(
    { agency, total, digest }: { agency: number; total: number; digest: string },
    state: AgencyState,
    stored: string,
  ): FinishOutcome {
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
