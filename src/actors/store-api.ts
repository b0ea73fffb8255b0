// What other threads may ask of the Store actor, and the values it answers
// with; a types-only view of store.ts for the threads that do not run it.
import type { Store } from './store.ts';

export type { AgencyState, AgencyWelcome, AppendOutcome, AppendRequest, FinishOutcome, StoreSnapshot, Winners } from './store.ts';
export type StoreApi = Pick<Store, 'append' | 'appendAll' | 'finish' | 'status' | 'welcome' | 'snapshot' | 'draw'>;
