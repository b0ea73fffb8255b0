// The Store on PostgreSQL: a second implementation of the Store face
// (src/actors/store-api.ts), chosen by --store URL, for a lottery served by
// several front-ends at once. It decides with the same ledger as the file
// Store and digests the same canonical lines, so the same agency files give
// the same upload digests and the same hash chain on either store.
//
// One group commit is one transaction. It first locks the lottery's row and
// catches up on the records other front-ends committed since this one last
// looked (their bets feed the upload digests), so every front-end decides
// against the committed state; then it inserts the group's batches, a row
// each holding its canonical lines (each (lottery, agency, offset) once: the
// primary key), advances the agencies' offsets only from the values it
// decided against, appends the ledger's record and moves the chain's head.
// Nothing is answered before COMMIT returns. The close and the draw are
// transactions under the same lock, each a link of the chain as with files,
// and a unique index allows one draw record per lottery. Other front-ends
// learn of a commit by NOTIFY, or by polling if a notification is lost.
//
// Every statement runs inside one of the Store's transactions, one at a
// time through its mailbox, so no two share a connection's pipeline, and a
// transaction counts as committed only when COMMIT answers COMMIT. A
// transaction that fails, or is not done within a bound, costs the whole
// pool its connections: the next one connects afresh, to whichever host now
// takes writes. A connection that landed on a standby, or that saw its
// server go, is never used again (see docs/storage.md, "Failover").
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import postgres, { type Sql } from 'postgres';
import { skipRows } from '../../bets/bets-csv.ts';
import { closeBytes, commitTail, drawBytes } from '../../bets/canonical-bet.ts';
import { UploadDigest } from '../../bets/upload-digest.ts';
import {
  decideFenced,
  Ledger,
  type AgencyState,
  type AppendOutcome,
  type CloseRecord,
  type FinishDecided,
  type FinishOutcome,
  type LedgerReader,
  type LedgerRecord,
} from '../../ledger/index.ts';
import { logEvent, type Logger } from '../../log/logger.ts';
import { answerGroup, GroupQueue, welcomeFrom, type GroupWork } from '../../actors/group-commit.ts';
import { Mailbox } from '../../actors/mailbox.ts';
import type { AgencyWelcome, AppendRequest, DrawOutcome, StoreApi, StoreSnapshot } from '../../actors/store-api.ts';
import { CHAIN_START, nextChain } from '../hash-chain.ts';
import { WinnersFromLines } from '../winners-from-lines.ts';
import { connectionsPerAgency, generationsInOrder } from './generations.ts';
import { ensureSchema } from './schema.ts';
import { connectionOptions } from './store-url.ts';
import { StoreUnavailableError } from '../../errors.ts';

export type PostgresStoreOptions = {
  /** A PostgreSQL connection URL as libpq reads it (several hosts, target_session_attrs, sslmode). */
  url: string;
  /** The lottery's name: every row is keyed by it. */
  lottery: string;
  /** The agencies this server is set for; stored with a new lottery. */
  agencies: number;
  log: Logger;
  /** Called after this front-end learned of another's commit (the Lottery then answers or draws). */
  onRefresh?: () => void;
  /** Milliseconds between looks for other front-ends' commits, in case a notification was lost. */
  pollMs?: number;
  /** Whether to LISTEN for other front-ends' commits (default true; off, only polling and HELLO tell). */
  listen?: boolean;
  /** Told after each group commit that wrote a record: how long it took and the bets it stored (for the metrics). */
  onCommit?: (seconds: number, bets: number) => void;
  /** The wall clock records are stamped with; Date.now unless a test holds it. */
  now?: () => number;
  /** Milliseconds one transaction may take, connecting included, before it is given up as failed (default 10 s). */
  transactionTimeoutMs?: number;
};

/** How long a transaction may take before its connections are dropped and the agencies told to come back. */
const TRANSACTION_TIMEOUT_MS = 10_000;

/**
 * The settings of every session a front-end's Store opens. The database
 * itself ends a session whose front-end stops answering inside a
 * transaction: a front-end frozen, or whose machine is lost, in the middle
 * of a commit still holds the lottery's row, and would keep every other
 * front-end from committing until TCP gave up on it, hours later. A live
 * front-end sends a transaction's statements one after another, so half the
 * transaction's bound between two of them is never its own; a statement may
 * run no longer than the whole bound, past which the transaction has failed
 * anyway.
 */
export function storeSessionOptions(url: string, transactionTimeoutMs: number) {
  const options = connectionOptions(url, 'lottery-server');
  return {
    ...options,
    connection: {
      ...options.connection,
      idle_in_transaction_session_timeout: Math.ceil(transactionTimeoutMs / 2),
      statement_timeout: transactionTimeoutMs,
    },
  };
}

/** The NOTIFY channel a commit announces itself on; the payload is the lottery's name. */
const CHANNEL = 'lottery_commit';

/** The columns COPY fills, in the order of copyRow's fields. */
const COPY_BATCHES = `copy batches (lottery, agency, "offset", count, seq, position, lines) from stdin`;

export class PostgresStore implements StoreApi {
  /** The pool in use; replaced by a fresh one after any failure (see #transaction). */
  #sql: Sql;
  readonly #connect: () => Sql;
  /** Destroys every connection the pools have open (see StoreSockets.abandon). */
  readonly #abandonSockets: () => void;
  /** Whether the next transaction first ends the sessions of lost front-ends (see #endLostSessions). */
  #reapLost = false;
  readonly #transactionTimeoutMs: number;
  readonly #lottery: string;
  /** The lottery's id, which keys its bets. */
  #lotteryId = 0;
  readonly #log: Logger;
  readonly #mailbox = new Mailbox();
  readonly #ledger = new Ledger();
  readonly #digests = new Map<number, UploadDigest>();
  readonly #onRefresh: (() => void) | undefined;
  readonly #onCommit: PostgresStoreOptions['onCommit'];
  readonly #now: () => number;
  /** The winners among the committed bets, kept as they commit (or as this front-end learns of them): the draw reads nothing else. */
  #winners = new WinnersFromLines();
  /** The agency count stored with the lottery (it may contradict --agencies: see store-worker.ts). */
  storedAgencies = 0;
  /** The seq of the last record applied to the ledger, and the chain after it. */
  #seq = 0;
  #chain = CHAIN_START;
  #drawChain: string | null = null;
  readonly #group = new GroupQueue(
    this.#mailbox,
    () => this.#commitGroup(),
    () => (this.#closed ? new Error('the store is closed') : undefined),
  );
  #closed = false;
  /** The HELLOs waiting for their generation, in the order they came (see #welcomeHellos). */
  readonly #hellos: Array<{ agency: number; resolve: (generation: number) => void; reject: (error: Error) => void }> = [];
  /** Set while the database cannot be reached or refuses commits: logged once, not per batch. */
  #unreachable = false;
  #poll: NodeJS.Timeout | undefined;
  #listening = false;

  private constructor(connect: () => Sql, sql: Sql, options: PostgresStoreOptions, abandonSockets: () => void) {
    this.#connect = connect;
    this.#abandonSockets = abandonSockets;
    this.#sql = sql;
    this.#transactionTimeoutMs = options.transactionTimeoutMs ?? TRANSACTION_TIMEOUT_MS;
    this.#lottery = options.lottery;
    this.#log = options.log;
    this.#onRefresh = options.onRefresh;
    this.#onCommit = options.onCommit;
    this.#now = options.now ?? Date.now;
  }

  /** Connects, makes or checks the schema and the lottery's row, and replays its records into the ledger. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    // One statement at a time goes through the pool (the mailbox), so a few connections are plenty.
    // One set of options for every pool: the hosts' order, and the sockets to abandon, hold across them.
    const settings = storeSessionOptions(options.url, options.transactionTimeoutMs ?? TRANSACTION_TIMEOUT_MS);
    const connect = () => postgres(options.url, { ...settings, max: 2 });
    const sql = connect();
    const store = new PostgresStore(connect, sql, options, settings.socket.abandon);
    try {
      await ensureSchema(sql);
      await store.#transaction(async (tx) => {
        await tx`insert into lotteries (name, agencies, chain) values (${options.lottery}, ${options.agencies}, ${CHAIN_START})
                  on conflict (name) do nothing`;
        const [row] = await tx`select id, agencies from lotteries where name = ${options.lottery}`;
        store.#lotteryId = Number(row.id);
        store.storedAgencies = Number(row.agencies);
        await store.#catchUp(tx, false);
      });
      store.#listening = options.listen ?? true;
      if (store.#listening) await store.#listen(store.#sql);
      store.#poll = setInterval(() => store.refresh(), options.pollMs ?? 1000);
      store.#poll.unref();
      return store;
    } catch (error) {
      await store.#sql.end({ timeout: 1 });
      throw error;
    }
  }

  /** Listens on `sql`'s pool for other front-ends' commits (a pool that is dropped takes its LISTEN with it). */
  async #listen(sql: Sql): Promise<void> {
    await sql.listen(CHANNEL, (lottery) => {
      if (lottery === this.#lottery) this.refresh();
    });
  }

  /**
   * Runs `work` as one transaction on a connection of its own, within the
   * transaction bound; it counts only if COMMIT answers COMMIT. On any
   * failure the pool is dropped, its connections with it, and a fresh one
   * connects for the next transaction: a connection that found itself on a
   * read-only server (25006), was shut down (57P01) or lost, or whose
   * pipeline a failure left in doubt, is never used again. Only through the
   * mailbox, one at a time.
   */
  async #transaction<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    const pool = this.#sql;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the database did not answer within ${this.#transactionTimeoutMs / 1000} s`)),
        this.#transactionTimeoutMs,
      );
    });
    const reap = this.#reapLost;
    this.#reapLost = false;
    const attempt = async () => {
      const tx = await pool.reserve();
      try {
        if (reap) await this.#endLostSessions(tx);
        await tx`begin`;
        const result = await work(tx);
        // An aborted transaction answers COMMIT with ROLLBACK, not an error: nothing of it is stored.
        const committed = await tx`commit`;
        if (committed.command !== 'COMMIT') throw new Error(`the database answered ${committed.command} to COMMIT`);
        return result;
      } finally {
        tx.release();
      }
    };
    try {
      return await Promise.race([attempt(), timeout]);
    } catch (error) {
      this.#dropPool(pool);
      this.#reapLost = true;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Ends the sessions of front-ends lost in the middle of a transaction
   * that the database does not end by itself. A front-end frozen between
   * two messages of one statement (postgres.js describes a new statement
   * before it binds it) leaves its session active, waiting on the client,
   * the lottery's row held: neither idle_in_transaction_session_timeout nor
   * statement_timeout applies to it. No live front-end keeps a transaction
   * open past twice the bound (its own gives up at the bound, destroying its
   * connections, and a statement left running ends within the bound), so a
   * lottery-server session whose transaction is older than that is a lost
   * one's. Run before the transaction after a failed one; a refusal (a role
   * not allowed to end others' sessions) leaves the transaction to wait, as
   * it would have.
   */
  async #endLostSessions(tx: Sql): Promise<void> {
    try {
      const [{ ended }] = await tx`
        select count(*)::int as ended from (
          select pg_terminate_backend(pid) from pg_stat_activity
          where application_name = 'lottery-server' and datname = current_database() and pid <> pg_backend_pid()
            and xact_start < now() - make_interval(secs => ${(2 * this.#transactionTimeoutMs) / 1000})
        ) as lost`;
      if (ended > 0) {
        logEvent(this.#log, 'warn', 'store_db_lost_sessions', 'success', {
          ended,
          reason: `lottery-server sessions with a transaction open more than ${(2 * this.#transactionTimeoutMs) / 1000} s: a front-end lost mid-transaction`,
          lottery: this.#lottery,
        });
      }
    } catch {
      // Not allowed, or the database gone: the transaction goes on and fails or not on its own.
    }
  }

  /**
   * Replaces `pool` (if it is still the one in use) by a fresh one, and ends
   * it without waiting for what it holds: its connections are destroyed, not
   * asked to close, so that a server that has hung is left at once for the
   * URL's next host.
   */
  #dropPool(pool: Sql): void {
    if (this.#sql !== pool) return;
    this.#sql = this.#connect();
    void pool.end({ timeout: 0 }).catch(() => undefined);
    this.#abandonSockets();
    // Polling finds what a lost notification would have told meanwhile.
    if (this.#listening && !this.#closed) void this.#listen(this.#sql).catch(() => undefined);
  }

  /** Catches up on other front-ends' commits, outside any group (catching up tells onRefresh if there were any). */
  refresh(): void {
    if (this.#closed) return;
    void this.#lookAround().catch(() => undefined);
  }

  /** One catch-up in the mailbox, without the lottery's lock. */
  #lookAround(): Promise<void> {
    return this.#mailbox.post(() => this.#transaction((tx) => this.#catchUp(tx, false)));
  }

  /**
   * Applies the records committed after this front-end's last one, and
   * feeds their bets to the upload digests. With `lock`, holds the
   * lottery's row until the transaction ends: no other commit or draw can
   * come between this look and this transaction's own record.
   */
  async #catchUp(tx: Sql, lock: boolean): Promise<void> {
    const [head] = lock
      ? await tx`select seq, chain from lotteries where name = ${this.#lottery} for update`
      : await tx`select seq, chain from lotteries where name = ${this.#lottery}`;
    const seq = Number(head.seq);
    if (seq === this.#seq) return;
    const records = await tx`select seq, kind, body, chain from records
                             where lottery = ${this.#lottery} and seq > ${this.#seq} and seq <= ${seq} order by seq`;
    const batches = await tx`select agency, count, lines from batches
                             where lottery = ${this.#lotteryId} and seq > ${this.#seq} and seq <= ${seq} order by seq, position`;
    for (const batch of batches) {
      const lines = batch.lines as Buffer;
      this.#digestOf(batch.agency).add(lines, batch.count);
      this.#winners.add(lines);
    }
    // Each record's chain is the chain after it; the draw is made at the chain before its own link.
    let running = this.#chain;
    for (const record of records) {
      this.#ledger.apply(record.body as LedgerRecord);
      if (record.kind === 'draw') this.#drawChain = running;
      running = record.chain;
    }
    this.#seq = seq;
    this.#chain = head.chain;
    // Told whether or not the transaction that caught up goes on to commit:
    // the records are others', committed, and a held WINNERS may be owed now.
    queueMicrotask(() => this.#onRefresh?.());
  }

  #digestOf(agency: number): UploadDigest {
    let digest = this.#digests.get(agency);
    if (digest === undefined) this.#digests.set(agency, (digest = new UploadDigest()));
    return digest;
  }

  get ledger(): LedgerReader {
    return this.#ledger;
  }

  /** The upload digest of an agency's stored rows (for results.json: an agency closed unfinished has no FINISH's). */
  uploadDigest(agency: number): string {
    return (this.#digests.get(agency) ?? new UploadDigest()).hex();
  }

  /** The hash chain's head: its value after everything recorded, the draw included. */
  get chainHead(): string {
    return this.#chain;
  }

  /** The hash chain the draw was made at (the `sorteo` line's digest), once drawn. */
  get drawChain(): string | null {
    return this.#ledger.drawn ? (this.#drawChain ?? this.#chain) : null;
  }

  status(agency: number): AgencyState {
    return this.#ledger.state(agency);
  }

  /**
   * What an agency is told at HELLO, after catching up: an agency that moved
   * here from another front-end must hear where it stands there, or it would
   * resend bets of an upload that another front-end has since seen finish.
   */
  async welcome(agency: number): Promise<AgencyWelcome> {
    const generation = await new Promise<number>((resolve, reject) => {
      this.#hellos.push({ agency, resolve, reject });
      // The first HELLO in waiting posts the transaction; those that come before it runs go with it.
      if (this.#hellos.length === 1) void this.#mailbox.post(() => this.#welcomeHellos());
    });
    return welcomeFrom(this.#ledger, agency, { generation });
  }

  /**
   * One transaction for every HELLO waiting: catch up, then take a new
   * generation for each connection. Every older connection of the agency, on
   * any front-end, is fenced from then on; two HELLOs of one agency get two
   * generations, the later the newer. After a front-end is lost, its
   * agencies' HELLOs arrive at the others all at once, and share one
   * transaction instead of waiting for one each. An answer that cannot be
   * right fails the transaction, as any database failure does.
   */
  async #welcomeHellos(): Promise<void> {
    const hellos = this.#hellos.splice(0);
    const agencies = hellos.map(({ agency }) => agency);
    const counts = connectionsPerAgency(agencies);
    try {
      const generations = await this.#guarded(async (tx) => {
        await this.#catchUp(tx, false);
        const rows = await tx`insert into agencies (lottery, agency, generation)
          select ${this.#lottery}, agency, connections
          from unnest(${[...counts.keys()]}::integer[], ${[...counts.values()]}::integer[]) as hello(agency, connections)
          on conflict (lottery, agency) do update set generation = agencies.generation + excluded.generation
          returning agency, generation`;
        return generationsInOrder(agencies, new Map(rows.map((row) => [Number(row.agency), generationOf(row)])));
      });
      hellos.forEach(({ resolve }, i) => resolve(generations[i]!));
    } catch (error) {
      for (const { reject } of hellos) reject(error as Error);
    }
  }

  snapshot(): StoreSnapshot {
    return {
      agencies: Object.fromEntries(this.#ledger.agencies()),
      winners: this.#ledger.winners,
      bets: this.#ledger.bets,
      chain: this.#drawChain ?? this.#chain,
    };
  }

  append(request: AppendRequest): Promise<AppendOutcome> {
    return this.#group.append(request);
  }

  appendAll(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    return Promise.all(requests.map((request) => this.append(request)));
  }

  finish(agency: number, total: number, digest: string): Promise<FinishOutcome> {
    return this.finishCounted(agency, total, digest).then(({ outcome }) => outcome);
  }

  finishCounted(agency: number, total: number, digest: string): Promise<FinishDecided> {
    return this.#group.finish(agency, total, digest);
  }

  async #commitGroup(): Promise<void> {
    const started = performance.now();
    const group = this.#group.take();
    let outcomes: Array<AppendOutcome | FinishDecided> = [];
    let applied: (() => void) | undefined;
    try {
      await this.#transaction(async (tx) => {
        await this.#catchUp(tx, true);
        ({ outcomes, applied } = await this.#decideAndWrite(tx, group));
      });
    } catch (error) {
      // Nothing of the group is answered as stored: the agencies resend it,
      // and the next group catches up on whatever did commit.
      const unavailable = new StoreUnavailableError({ cause: error });
      for (const { reject } of group) reject(unavailable);
      this.#troubled(error as Error);
      return;
    }
    const betsBefore = this.#ledger.bets;
    applied?.();
    if (applied !== undefined) this.#onCommit?.((performance.now() - started) / 1000, this.#ledger.bets - betsBefore);
    this.#recovered();
    answerGroup(group, outcomes);
  }

  /** Decides the group against the caught-up ledger and writes it in `tx`; `applied` makes it this front-end's state once committed. */
  async #decideAndWrite(tx: Sql, group: GroupWork[]) {
    const draft = this.#ledger.draft();
    const seq = this.#seq + 1;
    const digests = new Map<number, UploadDigest>();
    let winners: WinnersFromLines | undefined;
    const outcomes: Array<AppendOutcome | FinishDecided> = [];
    const lines: Uint8Array[] = [];
    const copy = new CopyIn(tx);
    const generations = await this.#generations(tx, group);
    for (const work of group) {
      if (work.kind === 'append') {
        const { agency, generation } = work.request;
        const fenced = decideFenced(agency, generation, generations.get(agency) ?? 0, draft.state(agency).next);
        if (fenced !== undefined) {
          outcomes.push(fenced);
          continue;
        }
      }
      if (work.kind === 'finish') {
        const { agency, total, digest } = work;
        outcomes.push(draft.finish(agency, { total, digest }, (digests.get(agency) ?? this.#digestOf(agency)).hex()));
        continue;
      }
      const { request } = work;
      const outcome = draft.append({ agency: request.agency, offset: request.offset, count: request.count, valid: request.rows !== null });
      outcomes.push(outcome);
      if (outcome.status === 'stored' && request.rows !== null) {
        const fresh = skipRows(request.rows, request.count - outcome.stored);
        lines.push(fresh);
        let digest = digests.get(request.agency);
        if (digest === undefined) digests.set(request.agency, (digest = this.#digestOf(request.agency).copy()));
        digest.add(fresh, outcome.stored);
        (winners ??= this.#winners.copy()).add(fresh);
        // Last, so that the database inserts this chunk while the next batches are decided.
        await copy.add(
          { lottery: this.#lotteryId, agency: request.agency, offset: outcome.next - outcome.stored, count: outcome.stored, seq },
          fresh,
        );
      }
    }
    await copy.end();
    const record = draft.record(this.#time());
    if (record === undefined) return { outcomes, applied: undefined };
    const chain = nextChain(this.#chain, lines, commitTail(record.agencies, record.finished, record.at));
    const lottery = this.#lottery;
    const ids = Object.keys(record.agencies).map(Number);
    const before = ids.map((agency) => this.#ledger.state(agency).next);
    const next = ids.map((agency) => record.agencies[agency].next);
    const stored = ids.map((agency) => record.agencies[agency].stored);
    // One round trip for the rest: postgres.js pipelines what is sent without waiting, in order, on the
    // transaction's connection. A check that fails after it still rolls all of it back.
    const [, advanced] = await Promise.all([
      tx`insert into agencies (lottery, agency) select ${lottery}, unnest(${ids}::integer[]) on conflict do nothing`,
      tx`update agencies a set next = u.next, stored = u.stored
         from unnest(${ids}::integer[], ${before}::bigint[], ${next}::bigint[], ${stored}::bigint[]) as u(agency, before, next, stored)
         where a.lottery = ${lottery} and a.agency = u.agency and a.next = u.before`,
      tx`insert into records (lottery, seq, kind, body, chain) values (${lottery}, ${seq}, 'commit', ${tx.json(record)}, ${chain})`,
      tx`update lotteries set seq = ${seq}, chain = ${chain} where name = ${lottery}`,
      tx`select pg_notify(${CHANNEL}, ${lottery})`,
    ]);
    if (advanced.count !== ids.length) throw new Error(`agency offsets moved under commit ${seq} of lottery ${lottery}: it is not applied`);
    const applied = () => {
      this.#ledger.apply(record);
      for (const [agency, digest] of digests) this.#digests.set(agency, digest);
      if (winners !== undefined) this.#winners = winners;
      this.#seq = seq;
      this.#chain = chain;
    };
    return { outcomes, applied };
  }

  /** The current generation of each agency the group's appends carry one for. */
  async #generations(tx: Sql, group: GroupWork[]): Promise<Map<number, number>> {
    const ids = [
      ...new Set(group.flatMap((work) => (work.kind === 'append' && work.request.generation !== undefined ? [work.request.agency] : []))),
    ];
    if (ids.length === 0) return new Map();
    const rows = await tx`select agency, generation from agencies where lottery = ${this.#lottery} and agency = any(${ids}::integer[])`;
    return new Map(rows.map((row) => [Number(row.agency), Number(row.generation)]));
  }

  /** The first failure of a run of them is logged; the rest wait for the database to come back. */
  #troubled(error: Error): void {
    if (this.#unreachable) return;
    this.#unreachable = true;
    logEvent(this.#log, 'error', 'store_db', 'fail', { error: error.message, lottery: this.#lottery });
  }

  #recovered(): void {
    if (!this.#unreachable) return;
    this.#unreachable = false;
    logEvent(this.#log, 'info', 'store_db', 'success', { lottery: this.#lottery });
  }

  #time(): string {
    return new Date(this.#now()).toISOString();
  }

  /**
   * Appends one record that is a link of the chain with no bets (the close,
   * the draw) as the next seq, in `tx`, under the lottery's lock; answers
   * the chain after it.
   */
  async #appendLink(tx: Sql, record: LedgerRecord, link: Uint8Array): Promise<{ seq: number; chain: string }> {
    const seq = this.#seq + 1;
    const chain = nextChain(this.#chain, [], link);
    await tx`insert into records (lottery, seq, kind, body, chain) values (${this.#lottery}, ${seq}, ${record.kind}, ${tx.json(record)}, ${chain})`;
    await tx`update lotteries set seq = ${seq}, chain = ${chain} where name = ${this.#lottery}`;
    await tx`select pg_notify(${CHANNEL}, ${this.#lottery})`;
    return { seq, chain };
  }

  /** Runs `work` as a transaction (see #transaction); a database failure is STORE_UNAVAILABLE, logged once per outage. */
  async #guarded<T>(work: (tx: Sql) => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await this.#transaction(work);
    } catch (error) {
      this.#troubled(error as Error);
      throw new StoreUnavailableError({ cause: error });
    }
    this.#recovered();
    return result;
  }

  /** Runs `work` in a transaction under the lottery's lock, caught up; a database failure is STORE_UNAVAILABLE, logged once. */
  async #locked<T>(work: (tx: Sql) => Promise<{ result: T; applied?: () => void }>): Promise<T> {
    const done = await this.#guarded(async (tx) => {
      await this.#catchUp(tx, true);
      return work(tx);
    });
    done.applied?.();
    return done.result;
  }

  /**
   * Closes sales now for agencies 1..`agencies` (see decideClose), once per
   * lottery whichever front-end asks: what is queued here is committed
   * first, then the close's record, a link of the chain. Answers the close
   * as recorded, the first one if sales were closed already (here or on
   * another front-end); null once drawn without a close.
   */
  closeSales(agencies: number): Promise<CloseRecord | null> {
    return this.#mailbox.post(async () => {
      if (this.#group.waiting > 0) await this.#commitGroup();
      return this.#locked<CloseRecord | null>(async (tx) => {
        const decided = this.#ledger.decideClose(this.#time(), agencies);
        if (decided === undefined) return { result: this.#ledger.close };
        const { seq, chain } = await this.#appendLink(tx, decided, closeBytes(decided.at, decided.unfinished));
        return {
          result: decided,
          applied: () => {
            this.#ledger.apply(decided);
            this.#seq = seq;
            this.#chain = chain;
          },
        };
      });
    });
  }

  /**
   * The draw, once per lottery whichever front-end runs it: under the
   * lottery's row lock, after catching up; if another front-end drew, its
   * recorded outcome. Its winners are those kept as bets committed, and its
   * record is the chain's last link, as with files.
   */
  draw(agencies: number): Promise<DrawOutcome> {
    return this.#mailbox.post(() =>
      this.#locked<DrawOutcome>(async (tx) => {
        const drawn = this.#ledger.winners;
        if (drawn !== null) return { result: { winners: drawn, chain: this.#drawChain ?? this.#chain } };
        const winners = this.#winners.winners(agencies);
        const at = this.#time();
        const record: LedgerRecord = { kind: 'draw', winners, at };
        const before = this.#chain;
        const { seq, chain } = await this.#appendLink(tx, record, drawBytes(at, winners));
        return {
          result: { winners, chain: before },
          applied: () => {
            this.#ledger.apply(record);
            this.#drawChain = before;
            this.#seq = seq;
            this.#chain = chain;
          },
        };
      }),
    );
  }

  /**
   * Stores the files the draw publishes (see resultsFiles), all or none, in
   * one transaction; a lottery that has them already keeps the first ones.
   */
  publish(files: ReadonlyArray<{ name: string; data: Uint8Array }>): Promise<void> {
    return this.#mailbox.post(() =>
      this.#guarded(async (tx) => {
        for (const { name, data } of files)
          await tx`insert into published (lottery, name, data) values (${this.#lottery}, ${name}, ${Buffer.from(data)}) on conflict do nothing`;
      }),
    );
  }

  /** A file the draw published, or undefined. */
  published(name: string): Promise<Buffer | undefined> {
    return this.#mailbox.post(() =>
      this.#guarded(async (tx) => {
        const [row] = await tx`select data from published where lottery = ${this.#lottery} and name = ${name}`;
        return row === undefined ? undefined : Buffer.from(row.data);
      }),
    );
  }

  close(): Promise<void> {
    if (this.#closed) return this.#mailbox.idle();
    this.#closed = true;
    clearInterval(this.#poll);
    return this.#mailbox.post(async () => {
      if (this.#group.waiting > 0) await this.#commitGroup();
      await this.#sql.end({ timeout: 5 });
    });
  }
}

/** The generation HELLO's insert answered: a positive integer, or the transaction fails rather than fence on a wrong one. */
function generationOf(row: { generation?: unknown } | undefined): number {
  const generation = Number(row?.generation);
  if (!Number.isSafeInteger(generation) || generation < 1) {
    throw new Error(`the database answered HELLO's generation as ${JSON.stringify(row)}`);
  }
  return generation;
}

/** COPY text sent at once: about 256 kB, several chunks in a busy group. */
const COPY_CHUNK_CHARS = 256 * 1024;

/** Where a stored batch goes: its lottery's id, agency, first offset, bet count and commit. */
type BatchPlace = { lottery: number; agency: number; offset: number; count: number; seq: number };

/**
 * A group's stored batches, one row each, sent by COPY (the bulk path) as
 * they are decided: once a chunk of rows is formatted it goes to the
 * database, which inserts it while the next batches are decided and
 * formatted, instead of the database waiting for the whole group and the
 * front-end then waiting for the database. Nothing is stored before the
 * transaction commits.
 */
class CopyIn {
  readonly #tx: Sql;
  #stream: Writable | undefined;
  #text: string[] = [];
  #pending = 0;
  /** Rows added so far: the next one's position in the commit. */
  #rows = 0;

  constructor(tx: Sql) {
    this.#tx = tx;
  }

  /** Adds a batch's row; sends what is held once it makes a chunk. */
  async add(place: BatchPlace, lines: Uint8Array): Promise<void> {
    const row = copyRow(place, this.#rows++, lines);
    this.#text.push(row);
    this.#pending += row.length;
    if (this.#pending >= COPY_CHUNK_CHARS) await this.#send();
  }

  /** Sends the rest; resolves once the database has taken every row (COPY's CommandComplete). */
  async end(): Promise<void> {
    if (this.#pending > 0) await this.#send();
    if (this.#stream === undefined) return;
    this.#stream.end();
    await finished(this.#stream);
  }

  async #send(): Promise<void> {
    const stream = (this.#stream ??= await this.#tx.unsafe(COPY_BATCHES).writable());
    const text = this.#text.join('');
    this.#text = [];
    this.#pending = 0;
    // Its callback comes once the chunk is with the socket, not the database: the next is formatted meanwhile.
    await new Promise<void>((resolve, reject) => stream.write(text, (error) => (error ? reject(error) : resolve())));
  }
}

/**
 * One batch as a COPY text row: its place, its position in the commit, and
 * its canonical lines as bytea in hex (`\x` then two digits a byte; the
 * backslash doubled, COPY's escape), which holds any bytes as they are and
 * needs no escaping of the lines' TABs and newlines.
 */
function copyRow({ lottery, agency, offset, count, seq }: BatchPlace, position: number, lines: Uint8Array): string {
  const hex = Buffer.from(lines.buffer, lines.byteOffset, lines.length).toString('hex');
  return `${lottery}\t${agency}\t${offset}\t${count}\t${seq}\t${position}\t\\\\x${hex}\n`;
}
