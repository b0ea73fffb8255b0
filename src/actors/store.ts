// Store actor. Runs on the store worker thread (see store-worker.ts): the
// only writer of bets.csv and of its journal. Appends and FINISHes queue up
// and are decided, written and synced a group at a time, in one mailbox
// turn each (group commit); the draw and close are mailbox turns too. So
// the files and the per-agency offsets need no locks. The mechanics live in
// src/storage: recovery at start (recovery.ts), the journal's format, the
// hash chain, positioned writes.

import type { FileHandle } from 'node:fs/promises';
import { skipRows } from '../bets/bets-csv.ts';
import { closeBytes, commitTail, csvFromCanonical, drawBytes } from '../bets/canonical-bet.ts';
import { UploadDigest } from '../bets/upload-digest.ts';
import {
  Ledger,
  type AgencyState,
  type AppendOutcome,
  type FinishDecided,
  type FinishOutcome,
  type CloseRecord,
  type LedgerReader,
} from '../ledger/index.ts';
import { logEvent, type Logger } from '../log/logger.ts';
import { writeFully } from '../storage/file-io.ts';
import { nextChain } from '../storage/hash-chain.ts';
import { encodeRecord, type JournalCommit, type JournalRecord } from '../storage/journal.ts';
import { openDataDir, type RecoveredState, type RecoveryOptions } from '../storage/recovery.ts';
import type { WinnersFromLines } from '../storage/winners-from-lines.ts';
import { answerGroup, GroupQueue, welcomeFrom, type GroupWork } from './group-commit.ts';
import { Mailbox } from './mailbox.ts';
import type { AgencyWelcome, AppendRequest, DrawOutcome, StoreApi, StoreSnapshot } from './store-api.ts';
import { StoreFailedError } from '../errors.ts';

export { BETS_FILE, JOURNAL_FILE } from '../storage/recovery.ts';

export type StoreOptions = RecoveryOptions & {
  /** Told once if the Store fails for good (see #fail); the store worker dies of it. */
  onFailure?: (error: StoreFailedError) => void;
  /** Told after each group commit that wrote a record: how long it took and the bets it stored (for the metrics). */
  onCommit?: (seconds: number, bets: number) => void;
  /** The wall clock records are stamped with; Date.now unless a test holds it. */
  now?: () => number;
};

export class Store implements StoreApi {
  readonly #mailbox = new Mailbox();
  readonly #csv: FileHandle;
  readonly #journal: FileHandle;
  readonly #csvPath: string;
  readonly #fsync: boolean;
  readonly #log: Logger;
  readonly #onFailure: StoreOptions['onFailure'];
  readonly #onCommit: StoreOptions['onCommit'];
  /** Each agency's state and the draw: decided and changed by the ledger alone. */
  readonly #ledger: Ledger;
  /** Each agency's upload digest: SHA-256 over its stored rows in order (see upload-digest.ts). */
  readonly #digests: Map<number, UploadDigest>;
  /** The winners among the committed bets, kept as they commit: the draw reads nothing else. */
  #winners: WinnersFromLines;
  readonly #now: () => number;
  #drawChain: string | null;
  /** The hash chain over everything committed (see hash-chain.ts). */
  #chain: string;
  #csvEnd: number;
  #journalEnd: number;
  readonly #group = new GroupQueue(
    this.#mailbox,
    () => this.#commitGroup(),
    () => this.#failed ?? (this.#closed ? new Error('the store is closed') : undefined),
  );
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
    this.#onCommit = options.onCommit;
    this.#ledger = state.ledger;
    this.#digests = state.digests;
    this.#winners = state.winners;
    this.#now = options.now ?? Date.now;
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

  /** The upload digest of an agency's stored rows (for results.json: an agency closed unfinished has no FINISH's). */
  uploadDigest(agency: number): string {
    return (this.#digests.get(agency) ?? new UploadDigest()).hex();
  }

  /** The hash chain's head: its value after everything recorded, the draw included. */
  get chainHead(): string {
    return this.#chain;
  }

  /** The committed state, for the Lottery beside the Store on its thread. */
  get ledger(): LedgerReader {
    return this.#ledger;
  }

  status(agency: number): AgencyState {
    return this.#ledger.state(agency);
  }

  /** What an agency is told when it says HELLO. */
  welcome(agency: number): AgencyWelcome {
    return welcomeFrom(this.#ledger, agency);
  }

  /** The hash chain the draw was made at (the `sorteo` line's digest), once drawn. */
  get drawChain(): string | null {
    return this.#ledger.drawn ? (this.#drawChain ?? this.#chain) : null;
  }

  snapshot(): StoreSnapshot {
    return {
      agencies: Object.fromEntries(this.#ledger.agencies()),
      winners: this.#ledger.winners,
      bets: this.#ledger.bets,
      chain: this.#drawChain ?? this.#chain,
    };
  }

  /**
   * Takes one batch. Appends (and FINISHes) wait in a queue; one mailbox
   * turn takes everything waiting, writes it with one write, syncs once and
   * only then answers it all (group commit).
   */
  append(request: AppendRequest): Promise<AppendOutcome> {
    return this.#group.append(request);
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
    return this.finishCounted(agency, total, digest).then(({ outcome }) => outcome);
  }

  /** As finish; for the Lottery beside the Store, also how many agencies have finished once this FINISH did (see LedgerDraft#finish). */
  finishCounted(agency: number, total: number, digest: string): Promise<FinishDecided> {
    return this.#group.finish(agency, total, digest);
  }

  async #commitGroup(): Promise<void> {
    const started = performance.now();
    const group = this.#group.take();
    if (this.#failed !== undefined) {
      for (const { reject } of group) reject(this.#failed);
      return;
    }
    // Decided in a draft: against the state as it will be after the work
    // before it in the group, without touching the ledger until the group
    // is on disk.
    const draft = this.#ledger.draft();
    const digests = new Map<number, UploadDigest>();
    let winners: WinnersFromLines | undefined;
    const outcomes: Array<AppendOutcome | FinishDecided> = [];
    /** The stored rows as canonical lines, for the digests, and as bets.csv rows, to write. */
    const lines: Uint8Array[] = [];
    const rows: Uint8Array[] = [];
    let bytes = 0;
    for (const work of group) {
      if (work.kind === 'finish') {
        const { agency, total, digest } = work;
        const stored = (digests.get(agency) ?? this.#digestOf(agency)).hex();
        outcomes.push(draft.finish(agency, { total, digest }, stored));
        continue;
      }
      const { request } = work;
      const outcome = draft.append({ agency: request.agency, offset: request.offset, count: request.count, valid: request.rows !== null });
      outcomes.push(outcome);
      if (outcome.status === 'stored' && request.rows !== null) {
        const fresh = skipRows(request.rows, request.count - outcome.stored);
        const csv = csvFromCanonical(fresh);
        lines.push(fresh);
        rows.push(csv);
        bytes += csv.length;
        let digest = digests.get(request.agency);
        if (digest === undefined) digests.set(request.agency, (digest = this.#digestOf(request.agency).copy()));
        digest.add(fresh, outcome.stored);
        (winners ??= this.#winners.copy()).add(fresh);
      }
    }
    const decided = draft.record(this.#time());
    if (decided !== undefined) {
      const chain = nextChain(this.#chain, lines, commitTail(decided.agencies, decided.finished, decided.at));
      const record: JournalCommit = { ...decided, csvEnd: this.#csvEnd + bytes, chain };
      const journalEnd = this.#journalEnd;
      try {
        // The record first, synced, then the bets it commits, synced, and
        // only then an answer: bets.csv never holds bytes past the last
        // record, so such bytes mean records were removed, and a last record
        // whose bets are not all there is a write that was never answered
        // (recovery tells the two apart: settleEnds in data-replay.ts).
        await this.#writeRecord(record);
        if (bytes > 0) await this.#write(this.#csv, rows, this.#csvEnd, 'bets.csv');
      } catch (error) {
        this.#journalEnd = journalEnd;
        for (const { reject } of group) reject(error);
        logEvent(this.#log, 'error', 'commit', 'fail', { error: (error as Error).message });
        await this.#undoGroup();
        return;
      }
      this.#csvEnd += bytes;
      this.#chain = chain;
      const betsBefore = this.#ledger.bets;
      this.#ledger.apply(decided);
      for (const [agency, digest] of digests) this.#digests.set(agency, digest);
      this.#onCommit?.((performance.now() - started) / 1000, this.#ledger.bets - betsBefore);
      if (winners !== undefined) this.#winners = winners;
    }
    answerGroup(group, outcomes);
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
    this.#group.rejectAll(this.#failed);
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

  async #writeRecord(record: JournalRecord): Promise<void> {
    const line = Buffer.from(encodeRecord(record));
    await this.#write(this.#journal, [line], this.#journalEnd, 'bets.journal');
    this.#journalEnd += line.length;
  }

  #time(): string {
    return new Date(this.#now()).toISOString();
  }

  /**
   * Closes sales now for agencies 1..`agencies` (see decideClose): what is
   * queued is committed first, then the close's record, a link of the hash
   * chain. Answers the close as recorded, the first one if sales were
   * closed already; null once drawn without a close.
   */
  closeSales(agencies: number): Promise<CloseRecord | null> {
    return this.#mailbox.post(async () => {
      if (this.#failed !== undefined) throw this.#failed;
      if (this.#group.waiting > 0) await this.#commitGroup();
      const decided = this.#ledger.decideClose(this.#time(), agencies);
      if (decided === undefined) return this.#ledger.close;
      const chain = nextChain(this.#chain, [], closeBytes(decided.at, decided.unfinished));
      try {
        await this.#writeRecord({ ...decided, chain });
      } catch (error) {
        await this.#undoGroup();
        throw error;
      }
      this.#chain = chain;
      this.#ledger.apply(decided);
      return decided;
    });
  }

  /**
   * Runs the draw once over the committed bets (whose winners the Store
   * kept as they committed: a change to bets.csv since is not drawn) and
   * records its outcome as the chain's last link; later calls, and calls
   * after a restart, answer the recorded outcome. The outcome carries the
   * hash chain of the bets it was drawn from, for the audit.
   */
  draw(agencies: number): Promise<DrawOutcome> {
    return this.#mailbox.post(async () => {
      if (this.#failed !== undefined) throw this.#failed;
      const drawn = this.#ledger.winners;
      if (drawn !== null) return { winners: drawn, chain: this.#drawChain ?? this.#chain };
      const winners = this.#winners.winners(agencies);
      const chain = this.#chain;
      const at = this.#time();
      const head = nextChain(chain, [], drawBytes(at, winners));
      try {
        await this.#writeRecord({ kind: 'draw', winners, at, chain, head });
      } catch (error) {
        await this.#undoGroup();
        throw error;
      }
      this.#ledger.apply({ kind: 'draw', winners, at });
      this.#drawChain = chain;
      this.#chain = head;
      return { winners, chain };
    });
  }

  /** Commits what is queued, syncs and closes the files. Safe to call twice. */
  close(): Promise<void> {
    if (this.#closed) return this.#mailbox.idle();
    this.#closed = true;
    return this.#mailbox.post(async () => {
      if (this.#group.waiting > 0) await this.#commitGroup();
      if (this.#failed === undefined) {
        await this.#csv.sync();
        await this.#journal.sync();
      }
      await this.#csv.close();
      await this.#journal.close();
    });
  }
}
