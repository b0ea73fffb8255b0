// The ledger: what decides a bet's fate and a lottery's state (see ledger.ts).
export {
  decideAppend,
  decideFenced,
  decideFinish,
  drawDue,
  type AppendOutcome,
  type Batch,
  type FinishDecided,
  type FinishOutcome,
  type Rejection,
} from './decisions.ts';
export { Ledger, LedgerDraft, type LedgerReader } from './ledger.ts';
export type { AgencyState, CommitRecord, DrawRecord, FinishRecorded, LedgerRecord, Winners } from './records.ts';
export { contradictsStoredAgencies, contradictsStoredLottery, type StoredLottery } from './stored-lottery.ts';
