// A session worker's handle on the Store actor. Calls go through comlink,
// but the appends that all the worker's sessions make in one turn of the
// event loop travel together as one appendAll call: comlink's cost (a
// message, an id, a reply) is paid per turn instead of per batch. Each
// append still gets its own outcome, and the Store still sees them in the
// order they were made, so nothing about ordering or group commit changes.
// The rows themselves are moved to the Store's thread, not copied.

import { transfer, type Remote } from 'comlink';
import type { AgencyWelcome, AppendOutcome, AppendRequest, StoreApi } from './store-api.ts';

/** What a Session asks of the Store. */
export type SessionStore = {
  append(request: AppendRequest): Promise<AppendOutcome>;
  welcome(agency: number): Promise<AgencyWelcome>;
};

type Pending = { request: AppendRequest; resolve: (outcome: AppendOutcome) => void; reject: (error: unknown) => void };

export class StoreClient implements SessionStore {
  readonly #remote: Remote<StoreApi>;
  #pending: Pending[] = [];

  constructor(remote: Remote<StoreApi>) {
    this.#remote = remote;
  }

  welcome(agency: number): Promise<AgencyWelcome> {
    return this.#remote.welcome(agency);
  }

  append(request: AppendRequest): Promise<AppendOutcome> {
    return new Promise((resolve, reject) => {
      // After this turn's I/O callbacks, so that every session's frames of this turn go together.
      if (this.#pending.length === 0) setImmediate(() => this.#send());
      this.#pending.push({ request, resolve, reject });
    });
  }

  #send(): void {
    const pending = this.#pending;
    this.#pending = [];
    const requests = pending.map(({ request }) => request);
    this.#remote.appendAll(transfer(requests, ownedBuffers(requests))).then(
      (outcomes) => pending.forEach(({ resolve }, i) => resolve(outcomes[i])),
      (error: unknown) => pending.forEach(({ reject }) => reject(error)),
    );
  }
}

/**
 * The buffers of the batches' rows, moved to the Store rather than copied:
 * each is a batch's own (the BETS fast path and encodeCanonicalLines make a new
 * one for each), and nothing on this side reads it once it is handed over.
 * A view into a larger buffer is never moved, so that nothing else is
 * taken with it.
 */
function ownedBuffers(requests: readonly AppendRequest[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const { rows } of requests) {
    if (rows !== null && rows.byteOffset === 0 && rows.byteLength === rows.buffer.byteLength && rows.buffer instanceof ArrayBuffer) {
      buffers.add(rows.buffer);
    }
  }
  return [...buffers];
}
