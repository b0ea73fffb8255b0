// What session workers may ask of the Lottery actor, and the values it
// answers with: the only methods the store worker exposes to them (see
// actor-face.ts). The Lottery implements this face.
import type { FinishOutcome } from '../ledger/index.ts';
import type { ErrorCode } from '../errors.ts';
import type { LotteryStatus } from '../ledger/lottery-status.ts';

export type { FinishOutcome };

/** An agency's winners once drawn, or why they cannot be told. */
export type WinnersOutcome = { status: 'drawn'; documents: string[] } | { status: 'rejected'; code: ErrorCode; message: string };

export interface LotteryApi {
  /** Records an agency's FINISH (see FINISH in src/wire/messages.ts). */
  finish(agency: number, total: number, digest: string): Promise<FinishOutcome>;
  /** This agency's winners; held until the draw. `ticket` names the request for withdraw(). */
  winners(agency: number, ticket?: unknown): Promise<WinnersOutcome>;
  /** The connection that asked is gone: its held request is dropped. */
  withdraw(ticket: unknown): void;
  /** Closes sales now (CLOSE from the monitor identity): the close as recorded, or null if the draw came first. */
  closeSales?(): Promise<{ at: string; unfinished: number[] } | null>;
  /** Optional for a Session: without it, a held WINNERS sends no WAITING. */
  progress?(): { finished: number; agencies: number };
  /** The lottery's status as an operator sees it (see src/ledger/lottery-status.ts), for the monitor's STATUS. */
  status?(): LotteryStatus;
}

export const LOTTERY_API = ['finish', 'winners', 'withdraw', 'progress', 'status', 'closeSales'] as const satisfies ReadonlyArray<
  keyof LotteryApi
>;
