// Lottery actor. Runs on the supervisor thread; session workers reach it over
// MessagePorts. It counts FINISH per agency, runs the draw once agencies 1..N
// have all finished, and answers each agency's WINNERS with that agency's
// documents only, holding the request until then.

import type { Remote } from 'comlink';
import { logEvent, type Logger } from '../log/logger.ts';
import { Backoff } from '../timing/backoff.ts';
import { Mailbox } from './mailbox.ts';
import type { FinishOutcome, StoreApi, StoreSnapshot, Winners } from './store-api.ts';
import { ErrorCode } from '../errors.ts';

export type WinnersOutcome = { status: 'drawn'; documents: string[] } | { status: 'rejected'; code: ErrorCode; message: string };

export type LotteryOptions = { agencies: number; store: Remote<StoreApi> | StoreApi; log: Logger; snapshot: StoreSnapshot };

export class Lottery {
  readonly #mailbox = new Mailbox();
  readonly #agencies: number;
  readonly #store: Remote<StoreApi> | StoreApi;
  readonly #log: Logger;
  readonly #finished = new Set<number>();
  #winners: Winners | null;
  /** Held WINNERS requests, by the ticket their session gave (or a key of their own). */
  readonly #waiting = new Map<unknown, { agency: number; resolve: (outcome: WinnersOutcome) => void }>();
  #stopping = false;
  readonly #drawRetry = new Backoff(DRAW_RETRY);
  #retryTimer: NodeJS.Timeout | undefined;
  #retryPosted = false;

  constructor({ agencies, store, log, snapshot }: LotteryOptions) {
    this.#agencies = agencies;
    this.#store = store;
    this.#log = log;
    this.#winners = snapshot.winners;
    for (const [agency, state] of Object.entries(snapshot.agencies)) {
      if (state.finished && Number(agency) <= agencies) this.#finished.add(Number(agency));
    }
  }

  get drawn(): boolean {
    return this.#winners !== null;
  }

  /** After a restart: a draw that every FINISH was recorded for but that did not complete runs now. */
  resume(): Promise<void> {
    return this.#mailbox.post(() => this.#drawIfAllFinished());
  }

  /**
   * Records an agency's FINISH (see FINISH in src/wire/messages.ts). The
   * Store call is made outside the mailbox, so that the FINISHes of many
   * agencies share one group commit instead of waiting on each other's sync.
   */
  async finish(agency: number, total: number, digest: string): Promise<FinishOutcome> {
    const outcome = await this.#store.finish(agency, total, digest);
    if (outcome.status === 'finished') {
      await this.#mailbox.post(async () => {
        if (this.#finished.has(agency)) return;
        this.#finished.add(agency);
        logEvent(this.#log, 'info', 'agencia_finalizada', 'success', { agencia: agency, total, finalizadas: this.#finished.size });
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
    if (this.#winners !== null) return Promise.resolve({ status: 'drawn', documents: this.#winners[agency] ?? [] });
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
    return { finished: this.#finished.size, agencies: this.#agencies };
  }

  /** WINNERS requests held for the draw. */
  get held(): number {
    return this.#waiting.size;
  }

  /** Answers every held WINNERS with SERVER_STOPPING. */
  stop(): void {
    this.#stopping = true;
    clearTimeout(this.#retryTimer);
    for (const { resolve } of this.#waiting.values()) resolve(stoppingAnswer);
    this.#waiting.clear();
  }

  async #drawIfAllFinished(): Promise<void> {
    if (this.#winners !== null || this.#stopping || this.#finished.size < this.#agencies) return;
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
    this.#winners = winners;
    const total = Object.values(winners).reduce((sum, documents) => sum + documents.length, 0);
    // The digest is the hash chain over bets.csv as drawn: anyone holding
    // the file can recompute it (see src/storage/journal.ts) and redo the draw.
    logEvent(this.#log, 'info', 'sorteo', 'success', { cant_ganadores: total, digest: chain });
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

/** A failed draw is tried again after 100 ms, doubling up to 5 s. */
const DRAW_RETRY = { firstMs: 100, maxMs: 5000, jitter: false } as const;

const withdrawnAnswer: WinnersOutcome = { status: 'rejected', code: ErrorCode.INTERNAL, message: 'the connection that asked has closed' };
const stoppingAnswer: WinnersOutcome = {
  status: 'rejected',
  code: ErrorCode.SERVER_STOPPING,
  message: 'the server is stopping; ask again once it is back',
};
