// How long to wait before the next try, for every retry loop in the
// project: an agency reconnecting, the lottery retrying a draw that failed.
// It only computes delays; callers wait with node:timers/promises, whose
// setTimeout takes the AbortSignal that ends the loop. Runs on whichever
// thread owns the loop.

export type BackoffOptions = {
  /** The first delay; each failure doubles it. */
  firstMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /**
   * Spread each delay over its upper half at random, so that many clients
   * that failed together (a server restart) do not come back together.
   */
  jitter: boolean;
};

export class Backoff {
  readonly #options: BackoffOptions;
  #failures = 0;

  constructor(options: BackoffOptions) {
    this.#options = options;
  }

  /** Failures since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /** Counts one more failure and returns how long to wait before the next try. */
  next(): number {
    const { firstMs, maxMs, jitter } = this.#options;
    const delay = Math.min(maxMs, firstMs * 2 ** this.#failures++);
    return jitter ? delay * (0.5 + Math.random() / 2) : delay;
  }

  /** After a success: the next failure waits the first delay again. */
  reset(): void {
    this.#failures = 0;
  }
}
