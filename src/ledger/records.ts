// The ledger's records: what changes the state of a lottery. The Store
// commits them to its journal (src/storage/journal.ts adds where bets.csv
// ends and the hash chain) and recovery replays them; both turn them into
// state with the one Ledger#apply.

/** Where an agency stands: the next offset it may use, the bets stored of those before, and whether it has finished. */
export type AgencyState = { next: number; stored: number; finished: boolean };
/** What a FINISH was checked against: the agency's count of offsets and its upload digest. */
export type FinishRecorded = { total: number; digest: string };
/** The draw's outcome: each agency's winning documents, by agency id. */
export type Winners = Record<string, string[]>;

/** A wall-clock time as ISO 8601 in UTC to the millisecond (Date#toISOString), as records carry it. */
export type RecordTime = string;

/**
 * One group commit: the offsets of every agency whose state it changed, and
 * the FINISHes it accepted with what each was checked against; `at`, when
 * it was committed.
 */
export type CommitRecord = {
  kind: 'commit';
  agencies: Record<string, { next: number; stored: number }>;
  finished?: Record<string, FinishRecorded>;
  at: RecordTime;
};
/**
 * The sales close, made once: from `at` no bet is taken and the draw is due.
 * `unfinished`: every agency of the lottery that had not finished, with the
 * offsets it had used and the bets stored of them (zero for one never heard of).
 */
export type CloseRecord = { kind: 'close'; at: RecordTime; unfinished: Record<string, { next: number; stored: number }> };
/** The draw, made once, at `at`. */
export type DrawRecord = { kind: 'draw'; winners: Winners; at: RecordTime };
export type LedgerRecord = CommitRecord | CloseRecord | DrawRecord;
