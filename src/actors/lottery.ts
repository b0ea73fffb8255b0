// Lottery actor. Runs on the store worker thread, beside the Store, whose
// ledger it reads for who has finished and whether the draw is made; session
// workers reach it over MessagePorts to that thread. It records FINISH
// through the Store, runs the draw once agencies 1..N have all finished, and
// answers each agency's WINNERS with that agency's documents only, holding
// the request until then.

import type { CloseRecord, FinishDecided, LedgerReader } from '../ledger/index.ts';
import { logEvent, type Logger } from '../log/logger.ts';
import { Backoff } from '../timing/backoff.ts';
import { Mailbox } from './mailbox.ts';
import type { LotteryApi, WinnersOutcome } from './lottery-api.ts';
import type { DrawOutcome, FinishOutcome } from './store-api.ts';
import { ErrorCode } from '../errors.ts';
import type { LotteryStatus } from '../ledger/lottery-status.ts';

export type { WinnersOutcome } from './lottery-api.ts';

/** What the Lottery needs of the Store beside it: FINISH recorded with its count, the draw, and the committed state. */
export type LotteryStore = {
  finishCounted(agency: number, total: number, digest: string): Promise<FinishDecided>;
  draw(agencies: number): Promise<DrawOutcome>;
  closeSales(agencies: number): Promise<CloseRecord | null>;
  readonly ledger: LedgerReader;
};

export type LotteryOptions = {
  agencies: number;
  store: LotteryStore;
  log: Logger;
  /** The operator's view of the lottery, which the store worker builds (it knows who is connected). */
  status?: () => LotteryStatus;
  /** The sales close, as a time (ms since the epoch); none: the draw waits for every agency. */
  closeAt?: number;
  /** Told once the draw is made (and after a restart, of the recorded one): writes results.json. */
  onDrawn?: (draw: DrawOutcome) => Promise<void>;
};

export class Lottery implements LotteryApi {
  readonly #mailbox = new Mailbox();
  readonly #agencies: number;
  readonly #store: LotteryStore;
  readonly #log: Logger;
  readonly #status: (() => LotteryStatus) | undefined;
  /** Held WINNERS requests, by the ticket their session gave (or a key of their own). */
  readonly #waiting = new Map<unknown, { agency: number; resolve: (outcome: WinnersOutcome) => void }>();
  #stopping = false;
  readonly #drawRetry = new Backoff(DRAW_RETRY);
  #retryTimer: NodeJS.Timeout | undefined;
  #retryPosted = false;
  readonly #closeAt: number | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  readonly #onDrawn: LotteryOptions['onDrawn'];

  constructor({ agencies, store, log, status, closeAt, onDrawn }: LotteryOptions) {
    this.#agencies = agencies;
    this.#status = status;
    this.#store = store;
    this.#log = log;
    this.#closeAt = closeAt;
    this.#onDrawn = onDrawn;
  }

  /**
   * Closes sales now (see Store#closeSales): no bet is taken from then on,
   * agencies that had not finished are recorded as closed with what was
   * stored, and the draw runs at once. Answers the close as recorded (the
   * first, if sales were closed already), or null if the draw came first.
   */
  closeSales(): Promise<{ at: string; unfinished: number[] } | null> {
    return this.#mailbox.post(async () => {
      const already = this.#store.ledger.close;
      const record = already ?? (await this.#store.closeSales(this.#agencies));
      if (record === null) return null;
      const unfinished = Object.keys(record.unfinished).map(Number);
      if (already === null) {
        logEvent(this.#log, 'info', 'cierre', 'success', {
          hora: record.at,
          sin_finalizar: unfinished.length === 0 ? 'ninguna' : unfinished.join(','),
          apuestas: this.#store.ledger.bets,
        });
      }
      await this.#drawIfAllFinished();
      return { at: record.at, unfinished };
    });
  }

  /** Arms the close at --close-at; one already past closes now. A timer waits at most about 24 days, so a later one is re-armed. */
  #armClose(): void {
    if (this.#closeAt === undefined || this.#store.ledger.close !== null || this.#store.ledger.drawn || this.#stopping) return;
    const wait = this.#closeAt - Date.now();
    if (wait <= 0) {
      void this.closeSales().catch((error: Error) => logEvent(this.#log, 'error', 'cierre', 'fail', { error: error.message }));
      return;
    }
    this.#closeTimer = setTimeout(() => this.#armClose(), Math.min(wait, MAX_TIMER_MS));
    this.#closeTimer.unref();
  }

  get drawn(): boolean {
    return this.#store.ledger.drawn;
  }

  /** After a restart: a draw that every FINISH was recorded for but that did not complete runs now. */
  resume(): Promise<void> {
    this.#armClose();
    return this.#mailbox.post(() => this.#drawIfAllFinished());
  }

  /**
   * Records an agency's FINISH (see FINISH in src/wire/messages.ts). The
   * Store call is made outside the mailbox, so that the FINISHes of many
   * agencies share one group commit instead of waiting on each other's sync.
   */
  async finish(agency: number, total: number, digest: string): Promise<FinishOutcome> {
    const { outcome, finishedNow } = await this.#store.finishCounted(agency, total, digest);
    // Only the FINISH that finished its agency counts; a repeat of it is answered alike and says nothing new.
    if (finishedNow !== undefined) {
      await this.#mailbox.post(async () => {
        logEvent(this.#log, 'info', 'agencia_finalizada', 'success', { agencia: agency, total, finalizadas: finishedNow });
        await this.#drawIfAllFinished();
      });
    }
    return outcome;
  }

  /**
   * This agency's winners; waits for the draw if it has not taken place.
   * `ticket` names the request, so that withdraw() can drop it.
   */
  winners(agency: number, ticket: unknown = {}): Promise<WinnersOutcome> {
    const drawn = this.#store.ledger.winners;
    if (drawn !== null) return Promise.resolve({ status: 'drawn', documents: drawn[agency] ?? [] });
    if (this.#stopping) return Promise.resolve(stoppingAnswer);
    // A draw that failed is tried again now rather than at its next backoff.
    if (this.#drawRetry.failures > 0) this.#retryDraw();
    return new Promise((resolve) => this.#waiting.set(ticket, { agency, resolve }));
  }

  /** The connection that asked is gone: its held request is dropped, not kept until the draw. */
  withdraw(ticket: unknown): void {
    this.#waiting.get(ticket)?.resolve(withdrawnAnswer);
    this.#waiting.delete(ticket);
  }

  /** How many of the agencies have finished, for the agencies that wait and show it. */
  progress(): { finished: number; agencies: number } {
    return { finished: this.#store.ledger.finishedCount, agencies: this.#agencies };
  }

  /** The lottery's status as an operator sees it. */
  status(): LotteryStatus {
    if (this.#status === undefined) throw new Error('this lottery keeps no status');
    return this.#status();
  }

  /** WINNERS requests held for the draw. */
  get held(): number {
    return this.#waiting.size;
  }

  /** Answers every held WINNERS with SERVER_STOPPING. */
  stop(): void {
    this.#stopping = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#closeTimer);
    for (const { resolve } of this.#waiting.values()) resolve(stoppingAnswer);
    this.#waiting.clear();
  }

  async #drawIfAllFinished(): Promise<void> {
    if (this.#stopping) return;
    // Drawn by another front-end on the same database: the waiting agencies are answered its outcome.
    const drawnElsewhere = this.#store.ledger.drawn && this.#waiting.size > 0;
    if (!drawnElsewhere && !this.#store.ledger.drawDue(this.#agencies)) return;
    let draw;
    try {
      draw = await this.#store.draw(this.#agencies);
    } catch (error) {
      // A read error or a full disk at the draw's record: every FINISH is
      // recorded, so the draw is owed. It is tried again on the next FINISH
      // or WINNERS, and meanwhile with a backoff, until it succeeds.
      const delay = this.#drawRetry.next();
      logEvent(this.#log, 'error', 'sorteo', 'fail', {
        error: (error as Error).message,
        intentos: this.#drawRetry.failures,
        reintento_ms: delay,
      });
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => this.#retryDraw(), delay);
      return;
    }
    clearTimeout(this.#retryTimer);
    const { winners, chain } = draw;
    const total = Object.values(winners).reduce((sum, documents) => sum + documents.length, 0);
    // The digest is the hash chain over the bets as drawn: anyone holding
    // bets.csv and its journal can recompute it (see src/storage/hash-chain.ts) and redo the draw.
    logEvent(this.#log, 'info', 'sorteo', 'success', { cant_ganadores: total, digest: chain });
    try {
      await this.#onDrawn?.(draw);
    } catch (error) {
      // The draw is recorded and its winners are answered; results.json can be written again by a restart.
      logEvent(this.#log, 'error', 'resultados', 'fail', { error: (error as Error).message });
    }
    for (const { agency, resolve } of this.#waiting.values()) resolve({ status: 'drawn', documents: winners[agency] ?? [] });
    this.#waiting.clear();
  }

  #retryDraw(): void {
    if (this.#retryPosted) return;
    this.#retryPosted = true;
    void this.#mailbox.post(() => {
      this.#retryPosted = false;
      return this.#drawIfAllFinished();
    });
  }
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A failed draw is tried again after 100 ms, doubling up to 5 s. */
const DRAW_RETRY = { firstMs: 100, maxMs: 5000, jitter: false } as const;

const withdrawnAnswer: WinnersOutcome = { status: 'rejected', code: ErrorCode.INTERNAL, message: 'the connection that asked has closed' };
const stoppingAnswer: WinnersOutcome = {
  status: 'rejected',
  code: ErrorCode.SERVER_STOPPING,
  message: 'the server is stopping; ask again once it is back',
};
