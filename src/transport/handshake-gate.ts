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
// another wait behind all of it.

import { GateClosed } from '../errors.ts';
/** Gives the turn back; calling it again does nothing. */
export type Release = () => void;

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

  constructor(capacity: number) {
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
    return () => {
      if (released) return;
      released = true;
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
      const address = this.#ready.values().next().value!;
      this.#ready.delete(address);
      const waiters = this.#waiting.get(address)!;
      const waiter = waiters.values().next().value!;
      this.#forget(address, waiter);
      if (this.#waiting.has(address) && this.#runningFor(address) + 1 < this.perAddress) this.#ready.add(address);
      waiter.resolve(this.#start(address));
    }
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
