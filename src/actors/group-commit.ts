// What both Stores (the data dir's and the database's) share around their
// group commit: appends and FINISHes wait in one queue, and the first to
// arrive posts one commit to the Store's mailbox, which takes everything
// waiting by then and answers it all once it is durable. Also what an agency
// is told at HELLO, read from the ledger alike by both.
import type { AppendOutcome, FinishDecided, LedgerReader } from '../ledger/index.ts';
import type { Mailbox } from './mailbox.ts';
import type { AgencyWelcome, AppendRequest } from './store-api.ts';

type Pending<T> = { resolve: (outcome: T) => void; reject: (error: unknown) => void };

/** One piece of a group: a batch or a FINISH, with how to answer it. */
export type GroupWork =
  | ({ kind: 'append'; request: AppendRequest } & Pending<AppendOutcome>)
  | ({ kind: 'finish'; agency: number; total: number; digest: string } & Pending<FinishDecided>);

export class GroupQueue {
  readonly #mailbox: Mailbox;
  readonly #commit: () => Promise<void>;
  /** Why nothing more is taken (a failed or closed Store), or undefined. */
  readonly #refusal: () => Error | undefined;
  #waiting: GroupWork[] = [];
  #posted = false;

  /** `commit` runs on the mailbox, once per group, and takes the group with take(). */
  constructor(mailbox: Mailbox, commit: () => Promise<void>, refusal: () => Error | undefined) {
    this.#mailbox = mailbox;
    this.#commit = commit;
    this.#refusal = refusal;
  }

  append(request: AppendRequest): Promise<AppendOutcome> {
    return this.#enqueue((pending) => ({ kind: 'append', request, ...pending }));
  }

  finish(agency: number, total: number, digest: string): Promise<FinishDecided> {
    return this.#enqueue((pending) => ({ kind: 'finish', agency, total, digest, ...pending }));
  }

  /** Everything waiting, in arrival order; the next arrival posts a new commit. */
  take(): GroupWork[] {
    this.#posted = false;
    const group = this.#waiting;
    this.#waiting = [];
    return group;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Refuses everything waiting with `error`. */
  rejectAll(error: unknown): void {
    for (const { reject } of this.take()) reject(error);
  }

  #enqueue<T>(work: (pending: Pending<T>) => GroupWork): Promise<T> {
    const refused = this.#refusal();
    if (refused !== undefined) return Promise.reject(refused);
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push(work({ resolve, reject } as Pending<T>));
      if (!this.#posted) {
        this.#posted = true;
        void this.#mailbox.post(this.#commit);
      }
    });
  }
}

/** Answers a group in its order: `outcomes[i]` is the answer to `group[i]`. */
export function answerGroup(group: readonly GroupWork[], outcomes: ReadonlyArray<AppendOutcome | FinishDecided>): void {
  group.forEach(({ resolve }, i) => (resolve as (outcome: AppendOutcome | FinishDecided) => void)(outcomes[i]));
}

/** What an agency is told when it says HELLO, from the committed ledger. */
export function welcomeFrom(ledger: LedgerReader, agency: number, extra: Partial<AgencyWelcome> = {}): AgencyWelcome {
  const { next, finished, stored } = ledger.state(agency);
  const welcome: AgencyWelcome = { offset: next, finished, drawn: ledger.drawn, ...extra };
  const closedAt = ledger.closedAt;
  if (closedAt !== null) {
    welcome.closedAt = closedAt;
    welcome.stored = stored;
  }
  const finish = ledger.finishOf(agency);
  return finish === undefined ? welcome : { ...welcome, ...finish };
}
