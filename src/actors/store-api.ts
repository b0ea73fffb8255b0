// What other threads may ask of the Store actor, and the values it answers
// with: the only methods the store worker exposes (see actor-face.ts). The
// Store implements this face; the threads that do not run it see only this.
import type { AgencyState, AppendOutcome, FinishOutcome, Rejection, Winners } from '../ledger/index.ts';
import type { Welcome } from '../wire/messages.ts';

export type { AgencyState, AppendOutcome, FinishOutcome, Rejection, Winners };

/** A batch for the Store: `rows` are its bets as canonical lines, or null for a batch refused as invalid. */
export type AppendRequest = {
  agency: number;
  offset: number;
  count: number;
  rows: Uint8Array | null;
  /** The generation its connection was welcomed with (database Store): refused as REPLACED once a newer connection said HELLO. */
  generation?: number;
};

/** What an agency is told when it says HELLO (the WELCOME message, which the wire catalogue defines). */
export type AgencyWelcome = Omit<Welcome, 'type'> & {
  /** The database Store: the generation this connection is welcomed with, handed back with its batches. */
  generation?: number;
};

/** The draw's outcome and the hash chain of the bets it was drawn from. */
export type DrawOutcome = { winners: Winners; chain: string };

/**
 * What the Store recovered, for the threads that start with it: each
 * agency's offsets and whether it finished, the draw if there was one, the
 * bets stored, and the hash chain.
 */
export type StoreSnapshot = { agencies: Record<string, AgencyState>; winners: Winners | null; bets: number; chain: string };

export interface StoreApi {
  /** Takes one batch; answered once it is committed (group commit). */
  append(request: AppendRequest): Promise<AppendOutcome>;
  /** Takes several batches, in order, as that many append calls would; the outcomes in the same order. */
  appendAll(requests: readonly AppendRequest[]): Promise<AppendOutcome[]>;
  /** Records an agency's FINISH in the next group commit. */
  finish(agency: number, total: number, digest: string): Promise<FinishOutcome>;
  status(agency: number): AgencyState;
  /** Answered at once by the file Store; by a database Store once it has caught up on other front-ends' commits. */
  welcome(agency: number): AgencyWelcome | Promise<AgencyWelcome>;
  snapshot(): StoreSnapshot;
  /** Runs the draw once; later calls answer its recorded outcome. */
  draw(agencies: number): Promise<DrawOutcome>;
}

/** Sessions append and welcome; the Lottery records FINISH, asks how far agencies are and draws. */
export const STORE_API = ['append', 'appendAll', 'finish', 'status', 'welcome', 'snapshot', 'draw'] as const satisfies ReadonlyArray<
  keyof StoreApi
>;
