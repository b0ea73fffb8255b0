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

/**
 * One group commit: the offsets of every agency whose state it changed, and
 * the FINISHes it accepted with what each was checked against.
 */
export type CommitRecord = {
  kind: 'commit';
  agencies: Record<string, { next: number; stored: number }>;
  finished?: Record<string, FinishRecorded>;
};
/** The draw, made once. */
export type DrawRecord = { kind: 'draw'; winners: Winners };
export type LedgerRecord = CommitRecord | DrawRecord;
