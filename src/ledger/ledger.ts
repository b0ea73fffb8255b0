// The ledger: the state of a lottery, changed only by apply(record). The
// Store decides a group of work in a draft (the state as it will be after
// the earlier work of the same group), commits the draft's record, and then
// applies it; recovery applies the journal's records to an empty ledger, so
// that both reach the same state by the same code. Pure and synchronous:
// no I/O, no hashing.
import { decideAppend, decideClose, decideFinish, drawDue, type AppendOutcome, type Batch, type FinishDecided } from './decisions.ts';
import type { AgencyState, CloseRecord, CommitRecord, FinishRecorded, LedgerRecord, RecordTime, Winners } from './records.ts';

const NOTHING_YET: AgencyState = Object.freeze({ next: 0, stored: 0, finished: false });

/** What may read a ledger without changing it (the Lottery, beside the Store that applies to it). */
export type LedgerReader = Pick<
  Ledger,
  'state' | 'finishOf' | 'agencies' | 'winners' | 'drawn' | 'bets' | 'finishedCount' | 'drawDue' | 'close' | 'closedAt' | 'times'
>;

/** When things happened, as the records say: each agency's first and last commit, the close and the draw. */
export type LedgerTimes = {
  agencies: Map<number, { first: RecordTime; last: RecordTime }>;
  close: RecordTime | null;
  draw: RecordTime | null;
};

export class Ledger {
  readonly #agencies = new Map<number, AgencyState>();
  readonly #finishes = new Map<number, FinishRecorded>();
  #finishedCount = 0;
  #winners: Winners | null = null;
  #bets = 0;
  #close: CloseRecord | null = null;
  #drawAt: RecordTime | null = null;
  readonly #commitTimes = new Map<number, { first: RecordTime; last: RecordTime }>();

  /** An agency's state; one that never said anything is at nothing stored. */
  state(agency: number): AgencyState {
    const state = this.#agencies.get(agency);
    return state === undefined ? { ...NOTHING_YET } : { ...state };
  }

  /** What agency `agency`'s FINISH was checked against, if it has finished. */
  finishOf(agency: number): FinishRecorded | undefined {
    return this.#finishes.get(agency);
  }

  /** Every agency that has a state, ascending. */
  agencies(): Map<number, AgencyState> {
    return new Map([...this.#agencies].sort(([a], [b]) => a - b).map(([agency, state]) => [agency, { ...state }]));
  }

  get winners(): Winners | null {
    return this.#winners;
  }

  get drawn(): boolean {
    return this.#winners !== null;
  }

  /** Bets stored over all agencies. */
  get bets(): number {
    return this.#bets;
  }

  /** Agencies that have finished. */
  get finishedCount(): number {
    return this.#finishedCount;
  }

  /** The sales close, once made: when, and the agencies that had not finished with what was stored. */
  get close(): CloseRecord | null {
    return this.#close;
  }

  /** When sales closed, or null while they are open. */
  get closedAt(): RecordTime | null {
    return this.#close?.at ?? null;
  }

  /** Each agency's first and last commit time, the close's and the draw's. */
  times(): LedgerTimes {
    return { agencies: new Map(this.#commitTimes), close: this.closedAt, draw: this.#drawAt };
  }

  /** Whether the draw is due for a lottery of agencies 1..`agencies`: all have finished, or sales are closed. */
  drawDue(agencies: number): boolean {
    return drawDue(this.drawn, agencies, (agency) => this.#agencies.get(agency)?.finished === true, this.#close !== null);
  }

  /** The record that closes sales at `at` for agencies 1..`agencies`, or undefined if they are closed already or drawn. */
  decideClose(at: RecordTime, agencies: number): CloseRecord | undefined {
    return decideClose(at, agencies, this.#close !== null, this.drawn, (agency) => this.state(agency));
  }

  /** The work of one group, decided against the state as it will be after the work before it in the group. */
  draft(): LedgerDraft {
    return new LedgerDraft(this);
  }

  /**
   * Decides one piece of work as a group of its own and applies its record
   * at once: for what commits every call as it comes (a test's stand-in for
   * the Store), so that it decides exactly as the Store does.
   */
  decideAlone<T>(decide: (draft: LedgerDraft) => T): T {
    const draft = this.draft();
    const outcome = decide(draft);
    const record = draft.record();
    if (record !== undefined) this.apply(record);
    return outcome;
  }

  /** Turns a record into state: the only way the ledger changes. */
  apply(record: LedgerRecord): void {
    switch (record.kind) {
      case 'commit':
        for (const [key, { next, stored }] of Object.entries(record.agencies)) {
          const agency = Number(key);
          const before = this.#agencies.get(agency) ?? NOTHING_YET;
          this.#bets += stored - before.stored;
          this.#agencies.set(agency, { next, stored, finished: before.finished });
          const times = this.#commitTimes.get(agency);
          this.#commitTimes.set(agency, { first: times?.first ?? record.at, last: record.at });
        }
        for (const [key, finish] of Object.entries(record.finished ?? {})) {
          const agency = Number(key);
          const state = this.#agencies.get(agency) ?? { ...NOTHING_YET };
          if (!state.finished) this.#finishedCount++;
          this.#agencies.set(agency, { ...state, finished: true });
          this.#finishes.set(agency, { total: finish.total, digest: finish.digest });
        }
        break;
      case 'close':
        this.#close = record;
        break;
      case 'draw':
        this.#winners = record.winners;
        this.#drawAt = record.at;
        break;
      default:
        throw new Error(`a record of an unknown kind: ${(record as { kind: unknown }).kind}`);
    }
  }
}

/**
 * One group's decisions. Nothing here touches the ledger: the group's
 * record() is applied to it once committed, and a group that fails to
 * commit is dropped with its draft.
 */
export class LedgerDraft {
  readonly #ledger: Ledger;
  readonly #states = new Map<number, AgencyState>();
  readonly #finished = new Map<number, FinishRecorded>();

  constructor(ledger: Ledger) {
    this.#ledger = ledger;
  }

  /** An agency's state as it will be after the group's work so far. */
  state(agency: number): AgencyState {
    return { ...(this.#states.get(agency) ?? this.#ledger.state(agency)) };
  }

  /** Decides a batch; a batch that uses offsets changes the draft. */
  append(batch: Batch): AppendOutcome {
    const { outcome, after } = decideAppend(batch, this.state(batch.agency), this.#ledger.drawn, this.#ledger.closedAt);
    if (outcome.status === 'stored' || outcome.status === 'invalid') this.#states.set(batch.agency, after);
    return outcome;
  }

  /** Decides a FINISH; `storedDigest`: the upload digest of the agency's rows as the draft has them. */
  finish(agency: number, claim: FinishRecorded, storedDigest: string): FinishDecided {
    const state = this.state(agency);
    const recorded = this.#finished.get(agency) ?? this.#ledger.finishOf(agency);
    const outcome = decideFinish(agency, claim, state, recorded, storedDigest, this.#ledger.closedAt);
    if (outcome.status !== 'finished' || state.finished) return { outcome };
    this.#states.set(agency, { ...state, finished: true });
    this.#finished.set(agency, { total: claim.total, digest: claim.digest });
    return { outcome, finishedNow: this.#ledger.finishedCount + this.#finished.size };
  }

  /** The record that commits the group at wall-clock time `at`, or undefined if the group changed nothing. */
  record(at: RecordTime = new Date().toISOString()): CommitRecord | undefined {
    if (this.#states.size === 0) return undefined;
    const ascending = <T>(map: Map<number, T>) => [...map].sort(([a], [b]) => a - b);
    const record: CommitRecord = {
      kind: 'commit',
      agencies: Object.fromEntries(ascending(this.#states).map(([agency, { next, stored }]) => [agency, { next, stored }])),
      at,
    };
    if (this.#finished.size > 0) record.finished = Object.fromEntries(ascending(this.#finished));
    return record;
  }
}
