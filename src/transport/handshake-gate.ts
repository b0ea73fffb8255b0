// How many TLS handshakes a session worker runs at once. A handshake costs
// CPU (key exchange, signing, verifying the client's certificate) and tens
// of KiB of OpenSSL's memory until it ends; ten thousand started together
// each crawl, none finishes within the handshake timeout, and the memory of
// all of them is held at once. Through the gate a few run at full speed and
// the rest wait their turn as plain sockets that have sent a ClientHello.
//
// Turns are fair between addresses: one address holds at most a quarter of
// the turns, and waiting addresses are served in rotation, so a flood of
// stalled handshakes from one address cannot make an agency connecting from
// another wait behind all of it. An address whose last handshake failed or
// ran out of time is served only when no other address waits, until one of
// its handshakes completes or SUSPECT_MS passes: stalled handshakes from
// many addresses, each holding a turn until the timeout, then cannot keep an
// agency from a clean address waiting behind all of them.

import { GateClosed } from '../errors.ts';
/** Gives the turn back, saying whether the handshake completed; calling it again does nothing. */
export type Release = (outcome?: HandshakeOutcome) => void;

export const HandshakeOutcome = { COMPLETED: 'completed', FAILED: 'failed' } as const;
export type HandshakeOutcome = (typeof HandshakeOutcome)[keyof typeof HandshakeOutcome];

/** How long an address whose handshake failed waits behind the others, unless one of its handshakes completes first. */
export const SUSPECT_MS = 60_000;

type Waiter = { resolve: (release: Release) => void };

export class HandshakeGate {
  readonly capacity: number;
  readonly perAddress: number;
  #running = 0;
  readonly #runningByAddress = new Map<string, number>();
  /** Each address's waiters, oldest first. */
  readonly #waiting = new Map<string, Set<Waiter>>();
  /** Addresses with waiters that may start one now, in the order they will be served. */
  readonly #ready = new Set<string>();
  /** Addresses whose last handshake failed, with when that stops counting. */
  readonly #suspectUntil = new Map<string, number>();
  readonly #now: () => number;

  constructor(capacity: number, now: () => number = () => performance.now()) {
    this.#now = now;
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a gate needs at least one turn, not ${capacity}`);
    this.capacity = capacity;
    this.perAddress = Math.max(1, Math.floor(capacity / 4));
  }

  /** Handshakes running now. */
  get running(): number {
    return this.#running;
  }

  /** Connections waiting for a turn. */
  get waiting(): number {
    let count = 0;
    for (const waiters of this.#waiting.values()) count += waiters.size;
    return count;
  }

  /** Resolves with a release once `address` may run a handshake; rejects with GateClosed if `signal` aborts first. */
  enter(address: string, signal: AbortSignal): Promise<Release> {
    if (signal.aborted) return Promise.reject(new GateClosed('stopped before its turn'));
    if (this.#running < this.capacity && this.#runningFor(address) < this.perAddress) return Promise.resolve(this.#start(address));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#forget(address, waiter);
        reject(new GateClosed('stopped before its turn'));
      };
      const waiter: Waiter = {
        resolve: (release) => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const waiters = this.#waiting.get(address) ?? new Set();
      waiters.add(waiter);
      this.#waiting.set(address, waiters);
      if (this.#runningFor(address) < this.perAddress) this.#ready.add(address);
    });
  }

  #runningFor(address: string): number {
    return this.#runningByAddress.get(address) ?? 0;
  }

  #start(address: string): Release {
    this.#running++;
    this.#runningByAddress.set(address, this.#runningFor(address) + 1);
    let released = false;
    return (outcome = HandshakeOutcome.COMPLETED) => {
      if (released) return;
      released = true;
      if (outcome === HandshakeOutcome.COMPLETED) this.#suspectUntil.delete(address);
      else this.#suspectUntil.set(address, this.#now() + SUSPECT_MS);
      this.#finish(address);
    };
  }

  #finish(address: string): void {
    this.#running--;
    const left = this.#runningFor(address) - 1;
    if (left === 0) this.#runningByAddress.delete(address);
    else this.#runningByAddress.set(address, left);
    if (this.#waiting.has(address)) this.#ready.add(address);
    this.#admit();
  }

  /** Starts waiters while there are turns, one address at a time in rotation. */
  #admit(): void {
    while (this.#running < this.capacity && this.#ready.size > 0) {
      const address = this.#next();
      this.#ready.delete(address);
      const waiters = this.#waiting.get(address)!;
      const waiter = waiters.values().next().value!;
      this.#forget(address, waiter);
      if (this.#waiting.has(address) && this.#runningFor(address) + 1 < this.perAddress) this.#ready.add(address);
      waiter.resolve(this.#start(address));
    }
  }

  /** The first ready address in rotation that is not suspect, else the first ready address. */
  #next(): string {
    const now = this.#now();
    for (const address of this.#ready) {
      const until = this.#suspectUntil.get(address);
      if (until === undefined) return address;
      if (until <= now) {
        this.#suspectUntil.delete(address);
        return address;
      }
    }
    return this.#ready.values().next().value!;
  }

  #forget(address: string, waiter: Waiter): void {
    const waiters = this.#waiting.get(address);
    if (waiters === undefined || !waiters.delete(waiter)) return;
    if (waiters.size === 0) {
      this.#waiting.delete(address);
      this.#ready.delete(address);
    }
  }
}
