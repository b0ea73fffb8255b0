// lottery-verify --store: a lottery kept in PostgreSQL, read as the verifier
// reads a data dir (src/audit/verify.ts), so that one check, the replay that
// recovery uses too (src/storage/data-replay.ts), covers both stores. The
// `records` rows become journal records (a commit with where its bets end,
// a draw with the chain it was drawn at and the chain after it), and the
// `batches` rows' canonical lines, in commit then position order, become the
// bytes bets.csv would hold. Everything is read in one read-only transaction at one
// snapshot, so it is safe, and consistent, while front-ends run.
import postgres, { type Sql } from 'postgres';
import { csvFromCanonical } from '../../bets/canonical-bet.ts';
import { StoreRecoveryError } from '../../errors.ts';
import type { LedgerRecord } from '../../ledger/index.ts';
import { JOURNAL_FORMAT, type JournalRecord } from '../journal.ts';
import type { ReadBets } from '../data-replay.ts';
import { checkSchema } from './schema.ts';
import { connectionOptions, maskedStoreUrl, reachable } from './store-url.ts';

/** What lottery-verify reads of a stored lottery (the shape of StoredLotteryReader in src/audit/verify.ts). */
export type PostgresLotteryReader = {
  describe: string;
  names: { journal: string; bets: string };
  journal(): Promise<{ records: JournalRecord[]; starts: number[]; where: (index: number) => string }>;
  bets(): Promise<{ read: ReadBets; size: number; close(): Promise<void> }>;
  published(name: string): Promise<Buffer | undefined>;
  close(): Promise<void>;
};

type Snapshot = { records: JournalRecord[]; seqs: number[]; csv: Buffer; published: Map<string, Buffer> };

/** A reader of lottery `lottery` in the database at `url`; reads nothing until asked, and only once. */
export function postgresLotteryReader(url: string, lottery: string): PostgresLotteryReader {
  const sql = postgres(url, { ...connectionOptions(url, 'lottery-verify'), max: 1 });
  const where = `lottery ${lottery} in ${maskedStoreUrl(url)}`;
  let snapshot: Promise<Snapshot> | undefined;
  const read = () => (snapshot ??= reachable(sql, url).then(() => readSnapshot(sql, lottery)));
  return {
    describe: where,
    names: { journal: `the records of ${where}`, bets: `the bets of ${where} (as bets.csv rows)` },
    async journal() {
      const { records, seqs } = await read();
      // The format record is the reader's own (the database has none): it stands before seq 1.
      return { records, starts: seqs, where: (index) => (index === 0 ? 'the format' : `the record of seq ${seqs[index]}`) };
    },
    async bets() {
      const { csv } = await read();
      return {
        size: csv.length,
        read: async (buffer, length, position) => csv.copy(buffer, 0, position, Math.min(csv.length, position + length)),
        close: async () => undefined,
      };
    },
    async published(name) {
      return (await read()).published.get(name);
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

async function readSnapshot(sql: Sql, lottery: string): Promise<Snapshot> {
  return sql.begin('isolation level repeatable read read only', async (tx) => {
    await checkSchema(tx, 'lottery-verify');
    const [known] = await tx`select 1 from lotteries where name = ${lottery}`;
    if (known === undefined) throw new StoreRecoveryError(`the database holds no lottery named ${lottery} (--lottery)`);
    const rows = await tx`select seq, kind, body, chain from records where lottery = ${lottery} order by seq`;
    // Each commit's bets, in the order its chain hashed them, laid out as bets.csv rows; where they end is the commit's csvEnd.
    const ends = new Map<number, number>();
    const chunks: Uint8Array[] = [];
    let size = 0;
    const batches = tx`select seq, lines from batches
                    where lottery = (select id from lotteries where name = ${lottery}) order by seq, position`.cursor(1000);
    let lines: Uint8Array[] = [];
    let seq = 0;
    /** Ends the run of batches of commit `seq` gathered in `lines`: its bets.csv rows, and where they end. */
    const flush = () => {
      if (lines.length === 0) return;
      const csv = csvFromCanonical(Buffer.concat(lines));
      chunks.push(csv);
      size += csv.length;
      ends.set(seq, size);
      lines = [];
    };
    for await (const chunk of batches) {
      for (const row of chunk) {
        if (Number(row.seq) !== seq) {
          flush();
          seq = Number(row.seq);
        }
        lines.push(row.lines as Buffer);
      }
    }
    flush();
    const records: JournalRecord[] = [{ kind: 'format', version: JOURNAL_FORMAT }];
    const seqs = [0];
    let csvEnd = 0;
    let before = '';
    for (const row of rows) {
      const seq = Number(row.seq);
      const body = row.body as LedgerRecord;
      if (body.kind === 'commit') {
        csvEnd = ends.get(seq) ?? csvEnd;
        records.push({ ...body, csvEnd, chain: row.chain });
      } else if (body.kind === 'draw') records.push({ ...body, chain: before, head: row.chain });
      else records.push({ ...body, chain: row.chain } as JournalRecord);
      seqs.push(seq);
      before = row.chain;
    }
    const published = new Map<string, Buffer>();
    for (const { name, data } of await tx`select name, data from published where lottery = ${lottery}`)
      published.set(name, Buffer.from(data));
    return { records, seqs, csv: Buffer.concat(chunks), published };
  });
}
