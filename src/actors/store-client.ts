// A session worker's handle on the Store actor. Calls go through comlink,
// but the appends that all the worker's sessions make in one turn of the
// event loop travel together as one appendAll call: comlink's cost (a
// message, an id, a reply) is paid per turn instead of per batch. Each
// append still gets its own outcome, and the Store still sees them in the
// order they were made, so nothing about ordering or group commit changes.

import type { Remote } from 'comlink';
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
    this.#remote.appendAll(pending.map(({ request }) => request)).then(
      (outcomes) => pending.forEach(({ resolve }, i) => resolve(outcomes[i])),
      (error: unknown) => pending.forEach(({ reject }) => reject(error)),
    );
  }
}
