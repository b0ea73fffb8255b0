// The PostgreSQL store's tables (see docs/storage.md, "PostgreSQL"). Every
// row is keyed by its lottery, so one database holds many. Created on first
// start inside one transaction, under an advisory lock so that front-ends
// starting together create it once; checked on every start.
import type { Sql, TransactionSql } from 'postgres';
import { StoreRecoveryError } from '../../errors.ts';

/**
 * The schema this code reads and writes; a database at any other is
 * refused. Version 1 kept a row per bet; no deployment of it exists, so
 * there is no migration from it: such a database is made afresh.
 */
export const SCHEMA_VERSION = 2;

/** The advisory lock key that serialises creating the schema (any constant; "lottery" in ASCII). */
const SCHEMA_LOCK = 0x6c6f7474657279;

const CREATE = [
  `create table lottery_schema (version integer not null)`,
  // One row per lottery: its agency count, and the head of its ledger: the
  // last record's seq and the hash chain after it. Every commit locks this
  // row, so that commits of all front-ends are one sequence.
  `create table lotteries (
     name text primary key,
     id integer generated always as identity unique,
     agencies integer not null check (agencies > 0),
     seq bigint not null default 0,
     chain text not null)`,
  // The ledger's records, each as the ledger's JSON, in commit order; the
  // chain after each. One draw per lottery, whatever races for it.
  `create table records (
     lottery text not null references lotteries (name),
     seq bigint not null,
     kind text not null,
     body jsonb not null,
     chain text not null,
     primary key (lottery, seq))`,
  `create unique index records_one_draw on records (lottery) where kind = 'draw'`,
  // Each stored batch once per (lottery, agency, offset): a row per batch,
  // not per bet, so that a commit adds one heap row and one index entry for
  // each batch it stores (measured in bench/README.md). offset: the batch's
  // first bet's; count: its bets; seq and position place it in the commit
  // that stored it, in the order the chain hashes it; lines: its canonical
  // lines (src/bets/canonical-bet.ts), the very bytes the upload digests and
  // the chain are over. Keyed by the lottery's id, not its name: a narrower key.
  `create table batches (
     lottery integer not null,
     agency integer not null,
     "offset" bigint not null check ("offset" >= 0),
     count integer not null check (count > 0),
     seq bigint not null,
     position integer not null,
     lines bytea not null,
     primary key (lottery, agency, "offset"))`,
  // A batch's lines (some 9 kB for the 186 bets of a full frame) are kept
  // out of line as they are: compressing them (pglz, the default) cost the
  // COPY more than twice its time, for space the lottery does not need.
  `alter table batches alter column lines set storage external`,
  `create index batches_by_commit on batches using brin (seq)`,
  // The stored bets one per row, as operators query them: each batch's lines
  // unnested (a line's n-th bet is at the batch's offset + n - 1).
  `create view bets as
     select l.name as lottery, b.agency, b."offset" + line.n - 1 as "offset", b.seq,
            split_part(line.text, E'\\t', 2) as first_name,
            split_part(line.text, E'\\t', 3) as last_name,
            split_part(line.text, E'\\t', 4) as document,
            split_part(line.text, E'\\t', 5) as birthdate,
            split_part(line.text, E'\\t', 6)::bigint as number
     from batches b
     join lotteries l on l.id = b.lottery
     cross join lateral string_to_table(rtrim(convert_from(b.lines, 'UTF8'), E'\\n'), E'\\n') with ordinality as line(text, n)`,
  // Each agency's offsets as the last commit left them: a commit advances
  // them only from the values it decided against. generation: bumped by each
  // HELLO, so that an older connection on another front-end is fenced.
  `create table agencies (
     lottery text not null,
     agency integer not null,
     next bigint not null default 0,
     stored bigint not null default 0,
     generation bigint not null default 0,
     primary key (lottery, agency))`,
  // What the draw publishes (results.json, its signature and certificate),
  // as the data dir holds them beside bets.csv: written once per lottery,
  // by the front-end that drew or the first to find them missing.
  `create table published (
     lottery text not null references lotteries (name),
     name text not null,
     data bytea not null,
     primary key (lottery, name))`,
] as const;

/** Creates the schema if the database has none; refuses one newer than this code's. */
export async function ensureSchema(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${SCHEMA_LOCK})`;
    const [{ exists }] = await tx`select to_regclass('lottery_schema') is not null as exists`;
    if (!exists) {
      for (const statement of CREATE) await tx.unsafe(statement);
      await tx`insert into lottery_schema (version) values (${SCHEMA_VERSION})`;
      return;
    }
    const [row] = await tx`select version from lottery_schema`;
    const version = row === undefined ? undefined : Number(row.version);
    if (version !== SCHEMA_VERSION) throw schemaRefused(version, 'lottery-server');
  });
}

/**
 * Why a database whose lottery schema is at `version` (undefined: none
 * recorded) is refused by `program`, in one line that says what to do.
 */
export function schemaRefused(version: number | undefined, program: string): StoreRecoveryError {
  const what = `the database's lottery schema is at version ${version ?? 'none'}, this ${program} knows version ${SCHEMA_VERSION}: `;
  if (version !== undefined && version > SCHEMA_VERSION) return new StoreRecoveryError(`${what}start a newer ${program}`);
  if (version === 1)
    return new StoreRecoveryError(
      `${what}version ${version} kept a row per bet and there is no migration from it (none was ever deployed): give the lottery a new, empty database`,
    );
  return new StoreRecoveryError(`${what}the database was not made by lottery-server`);
}

/** Refuses, for `program`, which only reads, a database with no lottery schema or one at another version. */
export async function checkSchema(sql: Sql | TransactionSql, program: string): Promise<void> {
  const [schema] = await sql`select to_regclass('lottery_schema') is not null as exists`;
  if (!schema.exists) throw new StoreRecoveryError('the database holds no lottery schema: no lottery-server has used it');
  const [row] = await sql`select version from lottery_schema`;
  const version = row === undefined ? undefined : Number(row.version);
  if (version !== SCHEMA_VERSION) throw schemaRefused(version, program);
}
