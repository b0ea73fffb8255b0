/**
 * An actor's mailbox: runs the work posted to it one item at a time, in
 * order. comlink only carries calls; an exposed object's async methods would
 * interleave at every `await`. Each actor posts its handlers here, so its
 * state is only ever touched by one handler at a time and needs no locks.
 */
export class Mailbox {
  #tail: Promise<unknown> = Promise.resolve();

  post<T>(work: () => T | Promise<T>): Promise<T> {
    const run = this.#tail.then(work);
    // One failed handler must not stop the ones behind it.
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Resolves once everything posted so far has run. */
  idle(): Promise<void> {
    return this.#tail.then(() => undefined);
  }
}
