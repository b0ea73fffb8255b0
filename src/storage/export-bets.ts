// A lottery's stored bets as the course's bets.csv columns, ordered by
// agency then offset, from either store; only reads. From a data dir, only
// what the journal's last commit covers (a tail past it was never
// acknowledged); from PostgreSQL, one snapshot, by cursor.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import postgres from 'postgres';
import { csvFromCanonical } from '../bets/canonical-bet.ts';
import { StoreRecoveryError } from '../errors.ts';
import { parseJournal } from './journal.ts';
import { BETS_FILE, JOURNAL_FILE } from './recovery.ts';
import { checkSchema } from './postgres/schema.ts';
import { connectionOptions, reachable } from './postgres/store-url.ts';

export const EXPORT_HEADER = 'agency,first_name,last_name,document,birthdate,number\n';

/** The rows of the data dir's committed bets, each agency's in offset order (bets.csv keeps each agency's in that order). */
export async function* rowsFromDataDir(dataDir: string): AsyncGenerator<string> {
  const journal = await readFile(join(dataDir, JOURNAL_FILE)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new StoreRecoveryError(`${dataDir} holds no ${JOURNAL_FILE}: it holds no lottery`);
    throw error;
  });
  let csvEnd = 0;
  for (const record of parseJournal(journal).records) if (record.kind === 'commit') csvEnd = record.csvEnd;
  const csv = (await readFile(join(dataDir, BETS_FILE))).subarray(0, csvEnd).toString('utf8');
  const byAgency = new Map<number, string[]>();
  for (const row of csv.split('\n')) {
    if (row === '') continue;
    const agency = Number(row.slice(0, row.indexOf(',')));
    let rows = byAgency.get(agency);
    if (rows === undefined) byAgency.set(agency, (rows = []));
    rows.push(`${row}\n`);
  }
  for (const agency of [...byAgency.keys()].sort((a, b) => a - b)) yield* byAgency.get(agency)!;
}

/**
 * The rows of lottery `lottery` in the database at `url`, read by one
 * cursor: one query, so one snapshot, however long the writing takes.
 */
export async function* rowsFromPostgres(url: string, lottery: string): AsyncGenerator<string> {
  const sql = postgres(url, { ...connectionOptions(url, 'lottery-export'), max: 1 });
  try {
    await reachable(sql, url);
    await checkSchema(sql, 'lottery-export');
    const [known] = await sql`select 1 from lotteries where name = ${lottery}`;
    if (known === undefined) throw new StoreRecoveryError(`the database holds no lottery named ${lottery} (--lottery)`);
    const cursor = sql`select lines from batches
                       where lottery = (select id from lotteries where name = ${lottery}) order by agency, "offset"`.cursor(500);
    for await (const chunk of cursor) {
      yield Buffer.from(csvFromCanonical(Buffer.concat(chunk.map((batch) => batch.lines as Buffer)))).toString('utf8');
    }
  } finally {
    await sql.end({ timeout: 1 });
  }
}
