// The PostgreSQL store's tables (see docs/storage.md, "PostgreSQL"). Every
// row is keyed by its lottery, so one database holds many. Created on first
// start inside one transaction, under an advisory lock so that front-ends
// starting together create it once; checked on every start.
import type { Sql } from 'postgres';
import { StoreRecoveryError } from '../../errors.ts';

/** The schema this code reads and writes; a database at a newer one is refused. */
export const SCHEMA_VERSION = 1;

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
  // Each stored bet once per (lottery, agency, offset); seq and position
  // place it in the commit that stored it, in the order the chain hashes it.
  // Keyed by the lottery's id, not its name: a narrower key for the two
  // indexes every stored bet adds to (measured in bench/README.md).
  `create table bets (
     lottery integer not null,
     agency integer not null,
     "offset" bigint not null,
     seq bigint not null,
     position integer not null,
     first_name text not null,
     last_name text not null,
     document text not null,
     birthdate text not null,
     number bigint not null,
     primary key (lottery, agency, "offset"))`,
  `create index bets_by_commit on bets using brin (seq)`,
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
    if (version !== SCHEMA_VERSION) {
      throw new StoreRecoveryError(
        `the database's lottery schema is at version ${version ?? 'none'}, this server knows version ${SCHEMA_VERSION}: ` +
          (version !== undefined && version > SCHEMA_VERSION
            ? 'start a newer lottery-server'
            : 'the database was not made by lottery-server'),
      );
    }
  });
}
