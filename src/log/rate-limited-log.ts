// A log event that a peer can trigger at will (a refused connection, a
// failed TLS handshake) must not let that peer fill the disk: a flood of
// connections once wrote 163,000 lines in 40 s. This lets the first few
// lines of each second through and then counts; the count goes out on the
// next line let through, or on its own when the second is over.

import { logEvent, type EventResult, type Logger } from './logger.ts';

export class RateLimitedLog {
  readonly #log: Logger;
  readonly #perSecond: number;
  #windowStart = 0;
  #inWindow = 0;
  #suppressed = 0;
  #summary: NodeJS.Timeout | undefined;
  #last: { level: 'info' | 'warn' | 'error'; action: string } | undefined;

  constructor(log: Logger, perSecond = 5) {
    this.#log = log;
    this.#perSecond = perSecond;
  }

  event(level: 'info' | 'warn' | 'error', action: string, result: EventResult, details: Record<string, unknown>): void {
    const now = performance.now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (this.#inWindow < this.#perSecond) {
      this.#inWindow++;
      const suppressed = this.#takeSuppressed();
      logEvent(this.#log, level, action, result, suppressed > 0 ? { ...details, suprimidas: suppressed } : details);
      return;
    }
    this.#suppressed++;
    this.#last = { level, action };
    this.#summary ??= setTimeout(() => this.#flush(), 1000).unref();
  }

  #takeSuppressed(): number {
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    clearTimeout(this.#summary);
    this.#summary = undefined;
    return suppressed;
  }

  #flush(): void {
    this.#summary = undefined;
    const suppressed = this.#takeSuppressed();
    if (suppressed > 0 && this.#last !== undefined) {
      logEvent(this.#log, this.#last.level, this.#last.action, 'fail', {
        suprimidas: suppressed,
        motivo: 'more lines like the last one, not written one by one',
      });
    }
  }
}
