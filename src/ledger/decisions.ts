// What becomes of a batch and of a FINISH, decided from an agency's state
// alone: pure functions, so that the Store, test stand-ins and property
// tests decide alike. Digests are inputs: hashing stays with the caller.
import type { AgencyState, CloseRecord, FinishRecorded } from './records.ts';
import { ErrorCode } from '../errors.ts';

/** A batch as the ledger sees it: its offsets, and whether all its bets were valid (else none is stored). */
export type Batch = { agency: number; offset: number; count: number; valid: boolean };

/** A refusal: the code and message the agency is told, and the offset it stands at. */
export type Rejection = { status: 'rejected'; code: ErrorCode; message: string; next: number };
export type AppendOutcome =
  /** `stored`: how many of the batch's bets were new (a resent batch that overlaps stores only its tail). */
  | { status: 'stored'; next: number; stored: number }
  | { status: 'duplicate'; next: number }
  /** A batch with an invalid bet: its offsets are used, none of it is stored. */
  | { status: 'invalid'; next: number }
  | Rejection;
export type FinishOutcome = { status: 'finished'; total: number; digest: string } | Rejection;
/**
 * A FINISH decided in a group: its outcome and, on the FINISH that finishes
 * its agency (not on a repeat of it), how many agencies have finished once
 * it is committed.
 */
export type FinishDecided = { outcome: FinishOutcome; finishedNow?: number };

/**
 * The outcome of `batch` for an agency at `state`, once the lottery is
 * `drawn` or not and its sales closed at `closedAt` (null: open); and the
 * state after it.
 */
export function decideAppend(
  batch: Batch,
  state: AgencyState,
  drawn: boolean,
  closedAt: string | null = null,
): { outcome: AppendOutcome; after: AgencyState } {
  const { agency, offset, count } = batch;
  const refuse = (code: ErrorCode, message: string) => ({
    outcome: { status: 'rejected', code, message, next: state.next } as const,
    after: state,
  });
  // Closed before drawn: a close is followed by its draw, and the agency is told the close, which is what it must act on.
  if (closedAt !== null && !state.finished) return refuse(ErrorCode.SALES_CLOSED, salesClosedMessage(agency, closedAt, state));
  if (drawn) return refuse(ErrorCode.DRAW_DONE, 'the draw has taken place: no more bets are taken');
  if (state.finished) return refuse(ErrorCode.AGENCY_FINISHED, `agency ${agency} has finished: no more bets are taken from it`);
  const end = offset + count;
  if (end <= state.next) return { outcome: { status: 'duplicate', next: state.next }, after: state };
  if (offset > state.next) return refuse(ErrorCode.OFFSET_GAP, `batch starts at ${offset} but the next bet expected is ${state.next}`);
  if (!batch.valid) return { outcome: { status: 'invalid', next: end }, after: { ...state, next: end } };
  const fresh = end - state.next;
  return { outcome: { status: 'stored', next: end, stored: fresh }, after: { ...state, next: end, stored: state.stored + fresh } };
}

/**
 * The outcome of agency `agency`'s FINISH claiming `claim`, for an agency at
 * `state` whose stored rows have upload digest `storedDigest`; `recorded`:
 * what its FINISH was checked against, if it has finished. A FINISH repeated
 * with the same values is accepted again; with others, refused.
 */
export function decideFinish(
  agency: number,
  claim: FinishRecorded,
  state: AgencyState,
  recorded: FinishRecorded | undefined,
  storedDigest: string,
  closedAt: string | null = null,
): FinishOutcome {
  const { total, digest } = claim;
  const refuse = (code: ErrorCode, message: string): Rejection => ({ status: 'rejected', code, message, next: state.next });
  if (closedAt !== null && !state.finished) return refuse(ErrorCode.SALES_CLOSED, salesClosedMessage(agency, closedAt, state));
  if (state.finished && recorded !== undefined && (recorded.total !== total || recorded.digest !== digest)) {
    return refuse(
      ErrorCode.AGENCY_FINISHED,
      `agency ${agency} has already finished with ${recorded.total} bets and digest ${recorded.digest}, not ${total} and ${digest}`,
    );
  }
  if (total !== state.next) {
    return refuse(ErrorCode.TOTAL_MISMATCH, `agency ${agency} says it used ${total} offsets but the server has taken ${state.next}`);
  }
  if (digest !== storedDigest) {
    return refuse(
      ErrorCode.DIGEST_MISMATCH,
      `agency ${agency}'s rows as the server stored them (${state.stored} of ${state.next}) have digest ${storedDigest}, the agency's are ${digest}: the server does not hold exactly the agency's rows`,
    );
  }
  return { status: 'finished', total, digest };
}

/**
 * What an agency that had not finished is told once sales are closed: the
 * close time and how many of its bets were stored before it. The agency
 * prints it as its last line.
 */
export function salesClosedMessage(agency: number, closedAt: string, state: AgencyState): string {
  return `sales closed at ${closedAt}: ${state.stored} of agency ${agency}'s bets were stored before it, and are in the draw`;
}

/**
 * The sales close at `at` for a lottery of agencies 1..`agencies`: the
 * record of every agency that had not finished, with what was stored; or
 * undefined if sales are already closed or the draw made (a second close
 * changes nothing).
 */
export function decideClose(
  at: string,
  agencies: number,
  closed: boolean,
  drawn: boolean,
  state: (agency: number) => AgencyState,
): CloseRecord | undefined {
  if (closed || drawn) return undefined;
  const unfinished: CloseRecord['unfinished'] = {};
  for (let agency = 1; agency <= agencies; agency++) {
    const { next, stored, finished } = state(agency);
    if (!finished) unfinished[agency] = { next, stored };
  }
  return { kind: 'close', at, unfinished };
}

/** Whether the draw is due: not made yet, and agencies 1..`agencies` have all finished, or sales are `closed`. */
export function drawDue(drawn: boolean, agencies: number, finished: (agency: number) => boolean, closed = false): boolean {
  if (drawn) return false;
  if (closed) return true;
  for (let agency = 1; agency <= agencies; agency++) if (!finished(agency)) return false;
  return true;
}

/**
 * Whether a batch from a connection welcomed as `generation` is fenced off:
 * a newer connection of its agency (`current`, on any front-end) has said
 * HELLO since. "The newest connection wins" across front-ends.
 */
export function decideFenced(agency: number, generation: number | undefined, current: number, next: number): Rejection | undefined {
  if (generation === undefined || generation >= current) return undefined;
  return { status: 'rejected', code: ErrorCode.REPLACED, message: `a newer connection for agency ${agency} took over`, next };
}
