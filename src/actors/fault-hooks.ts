// A seam for the tests that make a worker fail as a bug would (a Store that
// dies mid-upload, a session worker that dies and is replaced). When the
// environment variable LOTTERY_FAULT_HOOKS names a module, the store and
// session workers load it and let it wrap what they build; the module lives
// with the tests (test/helpers/fault-hooks.ts). No flag, config key or
// --help line reaches it, and without the variable nothing is loaded.
// Runs on the store worker and on each session worker.
import type { StoreApi } from './store-api.ts';
import type { SessionStore } from './store-client.ts';

export type FaultHooks = {
  /** Awaited by the store worker before it opens the Store: a Store slow to recover. */
  beforeStoreOpens?: () => Promise<void>;
  /** Wraps the Store's face, as the store worker exposes it. */
  store?: (store: StoreApi) => StoreApi;
  /** Wraps session worker `worker`'s handle on the Store. */
  sessionStore?: (store: SessionStore, worker: number) => SessionStore;
};

export const FAULT_HOOKS_VARIABLE = 'LOTTERY_FAULT_HOOKS';

export async function loadFaultHooks(): Promise<FaultHooks> {
  const module = process.env[FAULT_HOOKS_VARIABLE];
  if (module === undefined || module === '') return {};
  return (await import(module)) as FaultHooks;
}
