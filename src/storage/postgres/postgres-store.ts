// The Store on PostgreSQL: a second implementation of the Store face
// (src/actors/store-api.ts), chosen by --store URL, for a lottery served by
// several front-ends at once. It decides with the same ledger as the file
// Store and digests the same canonical lines, so the same agency files give
// the same upload digests and the same hash chain on either store.
//
// One group commit is one transaction. It first locks the lottery's row and
// catches up on the records other front-ends committed since this one last
// looked (their bets feed the upload digests), so every front-end decides
// against the committed state; then it inserts the group's bets (each
// (lottery, agency, offset) once: the primary key), advances the agencies'
// offsets only from the values it decided against, appends the ledger's
// record and moves the chain's head. Nothing is answered before COMMIT
// returns. The close and the draw are transactions under the same lock,
// each a link of the chain as with files, and a unique index allows one
// draw record per lottery. Other front-ends learn of a
// commit by NOTIFY, or by polling if a notification is lost.
import { finished } from 'node:stream/promises';
import postgres, { type Sql, type TransactionSql } from 'postgres';
import { skipRows } from '../../bets/bets-csv.ts';
import { canonicalLine, closeBytes, commitTail, drawBytes } from '../../bets/canonical-bet.ts';
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
import { Mailbox } from '../../actors/mailbox.ts';
import type { AgencyWelcome, AppendRequest, DrawOutcome, StoreApi, StoreSnapshot } from '../../actors/store-api.ts';
import { CHAIN_START, nextChain } from '../hash-chain.ts';
import { WinnersFromLines } from '../winners-from-lines.ts';
import { ensureSchema } from './schema.ts';
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
};

/** The NOTIFY channel a commit announces itself on; the payload is the lottery's name. */
const CHANNEL = 'lottery_commit';

type Pending<T> = { resolve: (outcome: T) => void; reject: (error: unknown) => void };
type PendingWork =
  | ({ kind: 'append'; request: AppendRequest } & Pending<AppendOutcome>)
  | ({ kind: 'finish'; agency: number; total: number; digest: string } & Pending<FinishDecided>);

/** The columns COPY fills, in the order of copyLines' fields: the canonical line's six come last. */
const COPY_BETS = `copy bets (lottery, "offset", seq, position, agency, first_name, last_name, document, birthdate, number) from stdin`;

export class PostgresStore implements StoreApi {
  readonly #sql: Sql;
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
  #queue: PendingWork[] = [];
  #flushPosted = false;
  #closed = false;
  /** Set while the database cannot be reached or refuses commits: logged once, not per batch. */
  #unreachable = false;
  #poll: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;

  private constructor(sql: Sql, options: PostgresStoreOptions) {
    this.#sql = sql;
    this.#lottery = options.lottery;
    this.#log = options.log;
    this.#onRefresh = options.onRefresh;
    this.#onCommit = options.onCommit;
    this.#now = options.now ?? Date.now;
  }

  /** Connects, makes or checks the schema and the lottery's row, and replays its records into the ledger. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const sql = postgres(options.url, {
      max: 4,
      onnotice: () => undefined,
      connection: { application_name: 'lottery-server' },
    });
    try {
      await ensureSchema(sql);
      const store = new PostgresStore(sql, options);
      await sql`insert into lotteries (name, agencies, chain) values (${options.lottery}, ${options.agencies}, ${CHAIN_START})
                on conflict (name) do nothing`;
      const [{ id }] = await sql`select id from lotteries where name = ${options.lottery}`;
      store.#lotteryId = Number(id);
      await sql.begin((tx) => store.#catchUp(tx, false));
      const [row] = await sql`select agencies from lotteries where name = ${options.lottery}`;
      store.storedAgencies = Number(row.agencies);
      await store.#listen(options.pollMs ?? 1000, options.listen ?? true);
      return store;
    } catch (error) {
      await sql.end({ timeout: 1 });
      throw error;
    }
  }

  async #listen(pollMs: number, listen: boolean): Promise<void> {
    if (listen) {
      const { unlisten } = await this.#sql.listen(CHANNEL, (lottery) => {
        if (lottery === this.#lottery) this.refresh();
      });
      this.#unlisten = unlisten;
    }
    this.#poll = setInterval(() => this.refresh(), pollMs);
    this.#poll.unref();
  }

  /** Catches up on other front-ends' commits, outside any group; tells onRefresh if there were any. */
  refresh(): void {
    if (this.#closed) return;
    void this.#lookAround().catch(() => undefined);
  }

  /** One catch-up in the mailbox, without the lottery's lock; onRefresh is told if it found anything. */
  #lookAround(): Promise<void> {
    return this.#mailbox.post(async () => {
      const before = this.#seq;
      await this.#sql.begin((tx) => this.#catchUp(tx, false));
      if (this.#seq !== before) this.#onRefresh?.();
    });
  }

  /**
   * Applies the records committed after this front-end's last one, and
   * feeds their bets to the upload digests. With `lock`, holds the
   * lottery's row until the transaction ends: no other commit or draw can
   * come between this look and this transaction's own record.
   */
  async #catchUp(tx: TransactionSql, lock: boolean): Promise<void> {
    const [head] = lock
      ? await tx`select seq, chain from lotteries where name = ${this.#lottery} for update`
      : await tx`select seq, chain from lotteries where name = ${this.#lottery}`;
    const seq = Number(head.seq);
    if (seq === this.#seq) return;
    const records = await tx`select seq, kind, body, chain from records
                             where lottery = ${this.#lottery} and seq > ${this.#seq} and seq <= ${seq} order by seq`;
    const bets = await tx`select agency, first_name, last_name, document, birthdate, number from bets
                          where lottery = ${this.#lotteryId} and seq > ${this.#seq} and seq <= ${seq} order by seq, position`;
    for (const bet of bets) {
      const line = Buffer.from(
        canonicalLine(bet.agency, [bet.first_name, bet.last_name, bet.document, bet.birthdate, Number(bet.number)]),
        'utf8',
      );
      this.#digestOf(bet.agency).add(line, 1);
      this.#winners.add(line);
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
    await this.#lookAround().catch((error: unknown) => {
      this.#troubled(error as Error);
      throw new StoreUnavailableError({ cause: error });
    });
    // This connection's generation: every older connection of the agency, on any front-end, is fenced from now on.
    const [{ generation }] = await this.#sql`insert into agencies (lottery, agency, generation) values (${this.#lottery}, ${agency}, 1)
      on conflict (lottery, agency) do update set generation = agencies.generation + 1 returning generation`;
    const { next, finished } = this.#ledger.state(agency);
    const welcome: AgencyWelcome = { offset: next, finished, drawn: this.#ledger.drawn, generation: Number(generation) };
    const closedAt = this.#ledger.closedAt;
    if (closedAt !== null) {
      welcome.closedAt = closedAt;
      welcome.stored = this.#ledger.state(agency).stored;
    }
    const finish = this.#ledger.finishOf(agency);
    return finish === undefined ? welcome : { ...welcome, ...finish };
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
    return this.#enqueue((pending) => ({ kind: 'append', request, ...pending }));
  }

  appendAll(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    return Promise.all(requests.map((request) => this.append(request)));
  }

  finish(agency: number, total: number, digest: string): Promise<FinishOutcome> {
    return this.finishCounted(agency, total, digest).then(({ outcome }) => outcome);
  }

  finishCounted(agency: number, total: number, digest: string): Promise<FinishDecided> {
    return this.#enqueue((pending) => ({ kind: 'finish', agency, total, digest, ...pending }));
  }

  #enqueue<T>(work: (pending: Pending<T>) => PendingWork): Promise<T> {
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
    const started = performance.now();
    this.#flushPosted = false;
    const group = this.#queue;
    this.#queue = [];
    let outcomes: Array<AppendOutcome | FinishDecided> = [];
    let applied: (() => void) | undefined;
    try {
      await this.#sql.begin(async (tx) => {
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
    group.forEach(({ resolve }, i) => (resolve as (outcome: AppendOutcome | FinishDecided) => void)(outcomes[i]));
  }

  /** Decides the group against the caught-up ledger and writes it in `tx`; `applied` makes it this front-end's state once committed. */
  async #decideAndWrite(tx: TransactionSql, group: PendingWork[]) {
    const draft = this.#ledger.draft();
    const seq = this.#seq + 1;
    const digests = new Map<number, UploadDigest>();
    let winners: WinnersFromLines | undefined;
    const outcomes: Array<AppendOutcome | FinishDecided> = [];
    const lines: Uint8Array[] = [];
    /** The group's stored bets as COPY text lines; `rows` of them. */
    const copy: string[] = [];
    let rows = 0;
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
        rows = copyLines(copy, fresh, this.#lotteryId, outcome.next - outcome.stored, seq, rows);
        let digest = digests.get(request.agency);
        if (digest === undefined) digests.set(request.agency, (digest = this.#digestOf(request.agency).copy()));
        digest.add(fresh, outcome.stored);
        (winners ??= this.#winners.copy()).add(fresh);
      }
    }
    const record = draft.record(this.#time());
    if (record === undefined) return { outcomes, applied: undefined };
    const chain = nextChain(this.#chain, lines, commitTail(record.agencies, record.finished, record.at));
    const lottery = this.#lottery;
    if (rows > 0) {
      // COPY: the bulk path, several times the rows per second of an INSERT of arrays.
      const stream = await tx.unsafe(COPY_BETS).writable();
      stream.end(copy.join(''));
      await finished(stream);
    }
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
  async #generations(tx: TransactionSql, group: PendingWork[]): Promise<Map<number, number>> {
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
  async #appendLink(tx: TransactionSql, record: LedgerRecord, link: Uint8Array): Promise<{ seq: number; chain: string }> {
    const seq = this.#seq + 1;
    const chain = nextChain(this.#chain, [], link);
    await tx`insert into records (lottery, seq, kind, body, chain) values (${this.#lottery}, ${seq}, ${record.kind}, ${tx.json(record)}, ${chain})`;
    await tx`update lotteries set seq = ${seq}, chain = ${chain} where name = ${this.#lottery}`;
    await tx`select pg_notify(${CHANNEL}, ${this.#lottery})`;
    return { seq, chain };
  }

  /** Runs `work` in a transaction under the lottery's lock, caught up; a database failure is STORE_UNAVAILABLE, logged once. */
  async #locked<T>(work: (tx: TransactionSql) => Promise<{ result: T; applied?: () => void }>): Promise<T> {
    let done: { result: T; applied?: () => void } | undefined;
    try {
      await this.#sql.begin(async (tx) => {
        await this.#catchUp(tx, true);
        done = await work(tx);
      });
    } catch (error) {
      this.#troubled(error as Error);
      throw new StoreUnavailableError({ cause: error });
    }
    done!.applied?.();
    this.#recovered();
    return done!.result;
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
      if (this.#queue.length > 0) await this.#commitGroup();
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
  async publish(files: ReadonlyArray<{ name: string; data: Uint8Array }>): Promise<void> {
    await this.#sql.begin(async (tx) => {
      for (const { name, data } of files)
        await tx`insert into published (lottery, name, data) values (${this.#lottery}, ${name}, ${Buffer.from(data)}) on conflict do nothing`;
    });
  }

  /** A file the draw published, or undefined. */
  async published(name: string): Promise<Buffer | undefined> {
    const [row] = await this.#sql`select data from published where lottery = ${this.#lottery} and name = ${name}`;
    return row === undefined ? undefined : Buffer.from(row.data);
  }

  close(): Promise<void> {
    if (this.#closed) return this.#mailbox.idle();
    this.#closed = true;
    clearInterval(this.#poll);
    return this.#mailbox.post(async () => {
      if (this.#queue.length > 0) await this.#commitGroup();
      await this.#unlisten?.().catch(() => undefined);
      await this.#sql.end({ timeout: 5 });
    });
  }
}

/**
 * Adds a batch's canonical lines to `copy` as COPY text lines: the lottery,
 * offset, seq and position, then the canonical line as it is (its TABs and
 * newline are COPY's own; a backslash, COPY's escape, is doubled). The
 * first line's offset is `offset`, its position `position`; returns the
 * position after the last.
 */
function copyLines(copy: string[], lines: Uint8Array, lottery: number, offset: number, seq: number, position: number): number {
  let text = Buffer.from(lines.buffer, lines.byteOffset, lines.length).toString('utf8');
  if (text.includes('\\')) text = text.replaceAll('\\', '\\\\');
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf('\n', start) + 1;
    copy.push(`${lottery}\t${offset++}\t${seq}\t${position++}\t`, text.slice(start, end));
    start = end;
  }
  return position;
}
