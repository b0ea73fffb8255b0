// What other threads may ask of the Store actor, and the values it answers
// with: the only methods the store worker exposes (see actor-face.ts), and
// a types-only view of store.ts for the threads that do not run it.
import type { Store } from './store.ts';

export type { AgencyState, AgencyWelcome, AppendOutcome, AppendRequest, FinishOutcome, StoreSnapshot, Winners } from './store.ts';

/** Sessions append and welcome; the Lottery records FINISH, asks how far agencies are and draws. */
export const STORE_API = ['append', 'appendAll', 'finish', 'status', 'welcome', 'snapshot', 'draw'] as const;
export type StoreApi = Pick<Store, (typeof STORE_API)[number]>;
