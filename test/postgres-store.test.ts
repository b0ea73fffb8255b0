// The PostgreSQL store against a real PostgreSQL 15 cluster of its own:
// the same decisions and digests as the file Store, each batch stored once
// across front-ends, one draw, a schema that is made once and checked.
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { Store } from '../src/actors/store.ts';
import type { AppendRequest } from '../src/actors/store-api.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { formatBetRow } from '../src/bets/bets-csv.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { uploadDigestOf } from '../src/bets/upload-digest.ts';
import { StoreUnavailableError } from '../src/errors.ts';
import { createLogger } from '../src/log/logger.ts';
import { rowsFromPostgres } from '../src/storage/export-bets.ts';
import { PostgresStore } from '../src/storage/postgres/postgres-store.ts';
import { buildResults, encodeResults } from '../src/audit/results.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { pollUntil, within } from './helpers/lottery-fixtures.ts';
import { PostgresCluster, postgresMissing } from './helpers/postgres-cluster.ts';

const log = createLogger({ level: 'silent', format: 'text' });
const missing = postgresMissing();
let cluster: PostgresCluster;
let databases = 0;

if (missing !== undefined) test.skip(missing, () => undefined);
else {
  test.before(async () => {
    cluster = await PostgresCluster.start();
  });
  test.after.always(() => cluster?.remove());
  registerTests();
}

/** A logger whose text lines the test reads. */
function linesLog() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', format: 'text', color: false, write: (line) => lines.push(line) });
  return { logger, lines };
}

/** A database of the test's own. */
const freshDatabase = () => cluster.database(`t${++databases}`);

async function openPostgres(
  t: ExecutionContext,
  url: string,
  lottery = 'default',
  agencies = 2,
  onRefresh?: () => void,
  pollMs = 100,
  listen = true,
) {
  const store = await PostgresStore.open({ url, lottery, agencies, log, pollMs, onRefresh, listen });
  t.teardown(() => store.close());
  return store;
}

/** A wall clock that moves one second each time it is read, from a fixed start. */
function heldClock(): () => number {
  let now = Date.parse('2026-12-04T20:00:00.000Z');
  return () => (now += 1000);
}

const batch = (agency: number, bets: readonly WireBet[], from: number, to: number): AppendRequest => ({
  agency,
  offset: from,
  count: to - from,
  rows: encodeCanonicalLines(agency, bets.slice(from, to)),
});

/** Bets whose names need quoting in bets.csv, or are not ASCII, or hold a backslash: the digests must not care. */
function awkwardBets(seed: number, count: number): WireBet[] {
  const bets = generateBets({ seed, count, winnerRows: [1, 5, count - 1] });
  bets[2] = ['Ana, "la" Grande', 'Nuñez\\Pérez', bets[2][2], bets[2][3], bets[2][4]];
  return bets;
}

/** One lottery's uploads, as two agencies send them: in batches, one resent, one overlapping, one invalid. */
async function upload(store: Pick<Store, 'append' | 'finish'>, one: WireBet[], two: WireBet[]) {
  const outcomes = [
    await store.append(batch(1, one, 0, 7)),
    await store.append(batch(2, two, 0, 10)),
    await store.append(batch(1, one, 0, 7)),
    await store.append(batch(1, one, 5, 20)),
    await store.append({ agency: 2, offset: 10, count: 3, rows: null }),
    await store.append(batch(2, two, 13, 25)),
  ];
  const storedTwo = [...two.slice(0, 10), ...two.slice(13, 25)];
  const finishes = [
    await store.finish(1, 20, uploadDigestOf(1, one.slice(0, 20))),
    await store.finish(2, 25, uploadDigestOf(2, storedTwo)),
  ];
  return { outcomes, finishes };
}

function registerTests(): void {
  test('the same uploads, close and draw give the same records, digests, chain, results.json and commit hooks as the file Store', async (t) => {
    const one = awkwardBets(1, 20);
    const two = awkwardBets(2, 25);
    const three = awkwardBets(3, 9);
    const dir = await mkdtemp(join(tmpdir(), 'lottery-pg-files-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    // One held clock each, read at the same points: every record carries the same time on both.
    const commits = { files: [] as number[], database: [] as number[] };
    const files = await Store.open({ dataDir: dir, fsync: false, log, now: heldClock(), onCommit: (_, bets) => commits.files.push(bets) });
    t.teardown(() => files.close());
    const database = await PostgresStore.open({
      url: await freshDatabase(),
      lottery: 'default',
      agencies: 3,
      log,
      pollMs: 100,
      now: heldClock(),
      onCommit: (_, bets) => commits.database.push(bets),
    });
    t.teardown(() => database.close());
    const fromFiles = await upload(files, one, two);
    const fromDatabase = await upload(database, one, two);
    t.deepEqual(fromDatabase, fromFiles);
    t.true(fromFiles.finishes.every((outcome) => outcome.status === 'finished'));
    // Agency 3 sends part of its file and never finishes: the close records it as closed with what was stored.
    t.deepEqual(await database.append(batch(3, three, 0, 6)), await files.append(batch(3, three, 0, 6)));
    t.deepEqual(database.snapshot(), files.snapshot());
    const closedFiles = await files.closeSales(3);
    t.deepEqual(await database.closeSales(3), closedFiles);
    t.deepEqual(Object.keys(closedFiles!.unfinished), ['3']);
    t.deepEqual(await database.append(batch(3, three, 6, 9)), await files.append(batch(3, three, 6, 9)));
    // What agency 3 hears at HELLO after the close (the database adds its connection's generation).
    const { generation, ...welcome } = await database.welcome(3);
    t.is(typeof generation, 'number');
    t.deepEqual(welcome, files.welcome(3));
    const drawnFromFiles = await files.draw(3);
    t.deepEqual(await database.draw(3), drawnFromFiles);
    t.true(Object.values(drawnFromFiles.winners).flat().length > 0);
    t.deepEqual(database.snapshot(), files.snapshot());
    // The draw is the chain's last link on both: the same head after it, and the same chain it was drawn at.
    t.is(database.chainHead, files.chainHead);
    t.not(files.chainHead, drawnFromFiles.chain);
    t.is(database.drawChain, files.drawChain);
    t.deepEqual(database.ledger.times(), files.ledger.times());
    for (const agency of [1, 2, 3]) t.is(database.uploadDigest(agency), files.uploadDigest(agency));
    const results = (store: Store | PostgresStore) =>
      encodeResults(buildResults(store.ledger, 3, (agency) => store.uploadDigest(agency), store.drawChain!, store.chainHead));
    t.deepEqual(results(database), results(files));
    t.deepEqual(commits.database, commits.files);
    t.true(commits.files.length > 0);
  });

  test('a batch is one row holding its canonical lines, and the bets view shows each bet once at its offset, as sent', async (t) => {
    const url = await freshDatabase();
    const store = await openPostgres(t, url, 'default', 3);
    const one = awkwardBets(1, 20);
    const two = awkwardBets(2, 25);
    await upload(store, one, two);
    // The resent batch adds no row, and the overlapping one only its fresh bets, from offset 7.
    t.is(
      await psql(url, `select string_agg(agency || '@' || "offset" || '+' || count, ' ' order by seq, position) from batches`),
      '1@0+7 2@0+10 1@7+13 2@13+12',
    );
    // Each row's lines are the very bytes hashed: the batch's canonical lines as sent.
    const stored = [
      ...one.slice(0, 20).map((bet) => [1, bet] as const),
      ...[...two.slice(0, 10), ...two.slice(13, 25)].map((bet) => [2, bet] as const),
    ];
    t.is(
      await psql(url, `select string_agg(encode(lines, 'hex'), '' order by agency, "offset") from batches`),
      Buffer.concat(stored.map(([agency, bet]) => encodeCanonicalLines(agency, [bet]))).toString('hex'),
    );
    const viewed = await psql(
      url,
      `select string_agg(concat_ws('|', lottery, agency, "offset", first_name, last_name, document, birthdate, number), E'\\n' order by agency, "offset") from bets`,
    );
    const expected = [
      ...one.slice(0, 20).map((bet, offset) => ['default', 1, offset, ...bet].join('|')),
      ...two.slice(0, 10).map((bet, offset) => ['default', 2, offset, ...bet].join('|')),
      ...two.slice(13, 25).map((bet, at) => ['default', 2, 13 + at, ...bet].join('|')),
    ];
    t.is(viewed, expected.join('\n'));
    // lottery-export's rows are the bets.csv rows of the same bets, quoted where a name needs it.
    let exported = '';
    for await (const rows of rowsFromPostgres(url, 'default')) exported += rows;
    t.is(exported, stored.map(([agency, bet]) => formatBetRow(agency, bet)).join(''));
  });

  test('a reopened store replays the records into the same state and refuses nothing it took', async (t) => {
    const url = await freshDatabase();
    const bets = generateBets({ seed: 3, count: 30, winnerRows: [4] });
    const first = await openPostgres(t, url, 'default', 3);
    await first.append(batch(1, bets, 0, 30));
    await first.finish(1, 30, uploadDigestOf(1, bets));
    const before = first.snapshot();
    await first.close();
    const second = await openPostgres(t, url, 'default', 5);
    t.deepEqual(second.snapshot(), before);
    t.is(second.storedAgencies, 3, 'the agency count of the lottery as it was made');
    t.deepEqual(await second.append(batch(1, bets, 0, 30)), {
      status: 'rejected',
      code: 'AGENCY_FINISHED',
      message: 'agency 1 has finished: no more bets are taken from it',
      next: 30,
    });
  });

  test('sales closed on one front-end are closed on every one: its close stands, a later batch elsewhere is refused SALES_CLOSED', async (t) => {
    const url = await freshDatabase();
    const a = await openPostgres(t, url);
    const b = await openPostgres(t, url);
    const bets = generateBets({ seed: 6, count: 20 });
    t.deepEqual(await b.append(batch(2, bets, 0, 5)), { status: 'stored', next: 5, stored: 5 });
    const closed = await a.closeSales(2);
    t.truthy(closed);
    t.deepEqual(closed!.unfinished, { 1: { next: 0, stored: 0 }, 2: { next: 5, stored: 5 } });
    // b has not looked yet: it catches up inside its own commit, and so refuses what it would have stored.
    const refused = await b.append(batch(2, bets, 5, 10));
    t.is(refused.status, 'rejected');
    t.is(refused.status === 'rejected' ? refused.code : undefined, 'SALES_CLOSED');
    t.deepEqual(await b.closeSales(2), closed, 'the first close stands, whichever front-end asks again');
    const drawn = await b.draw(2);
    t.deepEqual(await a.draw(2), drawn);
    t.is(a.chainHead, b.chainHead);
  });

  test('two front-ends store each batch once, however it is resent to either, and the digests agree', async (t) => {
    const url = await freshDatabase();
    const a = await openPostgres(t, url);
    const b = await openPostgres(t, url);
    const bets = generateBets({ seed: 4, count: 40 });
    t.deepEqual(await a.append(batch(1, bets, 0, 10)), { status: 'stored', next: 10, stored: 10 });
    // b has not looked yet: it catches up inside its own commit.
    t.deepEqual(await b.append(batch(1, bets, 0, 10)), { status: 'duplicate', next: 10 });
    t.deepEqual(await b.append(batch(1, bets, 5, 25)), { status: 'stored', next: 25, stored: 15 });
    const both = await Promise.all([a.append(batch(1, bets, 25, 40)), b.append(batch(1, bets, 25, 40))]);
    t.deepEqual(both.map((outcome) => outcome.status).sort(), ['duplicate', 'stored']);
    t.deepEqual(await a.finish(1, 40, uploadDigestOf(1, bets)), { status: 'finished', total: 40, digest: uploadDigestOf(1, bets) });
    t.is(
      await psql(url, `select count(*) || ' ' || count(distinct "offset") || ' ' || min("offset") || ' ' || max("offset") from bets`),
      '40 40 0 39',
    );
  });

  test('the last two FINISHes on two front-ends at once make one draw, which both answer alike', async (t) => {
    const url = await freshDatabase();
    const a = await openPostgres(t, url);
    const b = await openPostgres(t, url);
    // A third front-end that only waits: it learns of the draw by NOTIFY (or its poll).
    let learned!: () => void;
    const learnedOnC = new Promise<void>((resolve) => (learned = resolve));
    const c = await openPostgres(t, url, 'default', 2, () => c.ledger.drawn && learned());
    const one = generateBets({ seed: 5, count: 10, winnerRows: [3] });
    const two = generateBets({ seed: 6, count: 10, winnerRows: [7] });
    await a.append(batch(1, one, 0, 10));
    await b.append(batch(2, two, 0, 10));
    const [finishedOnA, finishedOnB] = await Promise.all([
      a.finishCounted(1, 10, uploadDigestOf(1, one)),
      b.finishCounted(2, 10, uploadDigestOf(2, two)),
    ]);
    // Whichever committed second saw both finished: that one is due to draw.
    t.deepEqual([finishedOnA.finishedNow, finishedOnB.finishedNow].sort(), [1, 2]);
    const [drawnOnA, drawnOnB] = await Promise.all([a.draw(2), b.draw(2)]);
    t.deepEqual(drawnOnA, drawnOnB);
    t.deepEqual(drawnOnA.winners, { 1: [one[3][2]], 2: [two[7][2]] });
    t.is(await psql(url, `select count(*) from records where kind = 'draw'`), '1');
    await within(learnedOnC, 'the waiting front-end to learn of the draw', 10_000);
    t.deepEqual(c.ledger.winners, drawnOnA.winners);
  });

  test('an agency that moves to another front-end is welcomed where it stands, even before that front-end has polled', async (t) => {
    const url = await freshDatabase();
    const a = await openPostgres(t, url);
    // No LISTEN, and a poll once a minute: only the HELLO's own look can tell it.
    const b = await openPostgres(t, url, 'default', 2, undefined, 60_000, false);
    const bets = generateBets({ seed: 8, count: 12 });
    await a.append(batch(1, bets, 0, 12));
    await a.finish(1, 12, uploadDigestOf(1, bets));
    t.deepEqual(await b.welcome(1), {
      offset: 12,
      finished: true,
      drawn: false,
      total: 12,
      generation: 1,
      digest: uploadDigestOf(1, bets),
    });
  });

  test('the newest connection wins across front-ends: the batches of an older one are refused as REPLACED once a newer one said HELLO', async (t) => {
    const url = await freshDatabase();
    const a = await openPostgres(t, url);
    const b = await openPostgres(t, url);
    const bets = generateBets({ seed: 9, count: 20 });
    const older = (await a.welcome(1)).generation;
    t.deepEqual(await a.append({ ...batch(1, bets, 0, 5), generation: older }), { status: 'stored', next: 5, stored: 5 });
    const newer = (await b.welcome(1)).generation;
    t.true(newer! > older!);
    t.deepEqual(await a.append({ ...batch(1, bets, 5, 10), generation: older }), {
      status: 'rejected',
      code: 'REPLACED',
      message: 'a newer connection for agency 1 took over',
      next: 5,
    });
    t.deepEqual(await b.append({ ...batch(1, bets, 5, 10), generation: newer }), { status: 'stored', next: 10, stored: 5 });
  });

  test('HELLOs that come at once, on one front-end and on two, each get a generation of their own: the latest HELLO of an agency wins', async (t) => {
    const url = await freshDatabase();
    const a = await openPostgres(t, url);
    const b = await openPostgres(t, url);
    // On one front-end, in the order they came, whether or not they share a transaction.
    const burst = await Promise.all(Array.from({ length: 30 }, () => a.welcome(1)));
    t.deepEqual(
      burst.map(({ generation }) => generation),
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    // On two front-ends at once: every agency's generations distinct and none lost.
    const agencies = [2, 3, 2, 4, 3, 2, 4, 2];
    const welcomes = await Promise.all(agencies.map((agency, i) => (i % 2 === 0 ? a : b).welcome(agency)));
    for (const agency of [2, 3, 4]) {
      const generations = welcomes.filter((_, i) => agencies[i] === agency).map(({ generation }) => generation!);
      t.deepEqual(
        [...generations].sort((x, y) => x - y),
        Array.from({ length: generations.length }, (_, i) => i + 1),
        `agency ${agency}`,
      );
    }
    // Only the newest may upload; an older one is REPLACED.
    const bets = generateBets({ seed: 10, count: 10 });
    t.deepEqual(await b.append({ ...batch(1, bets, 0, 5), generation: 29 }), {
      status: 'rejected',
      code: 'REPLACED',
      message: 'a newer connection for agency 1 took over',
      next: 0,
    });
    t.deepEqual(await b.append({ ...batch(1, bets, 0, 5), generation: 30 }), { status: 'stored', next: 5, stored: 5 });
  });

  test('one database holds several lotteries, each with its own rows and agency count', async (t) => {
    const url = await freshDatabase();
    const spring = await openPostgres(t, url, 'spring', 2);
    const autumn = await openPostgres(t, url, 'autumn', 7);
    const bets = generateBets({ seed: 7, count: 5 });
    await spring.append(batch(1, bets, 0, 5));
    t.deepEqual(autumn.status(1), { next: 0, stored: 0, finished: false });
    t.deepEqual(await autumn.append(batch(1, bets, 0, 5)), { status: 'stored', next: 5, stored: 5 });
    t.is(autumn.storedAgencies, 7);
    t.is(
      await psql(
        url,
        `select string_agg(lottery || ':' || n, ',' order by lottery) from (select lottery, count(*) n from bets group by lottery) x`,
      ),
      'autumn:5,spring:5',
    );
  });

  test('a server that takes no writes is STORE_UNAVAILABLE, logged once; the connections that met it are dropped, and the next connects afresh', async (t) => {
    const url = await freshDatabase();
    const name = new URL(url).pathname.slice(1);
    const { logger, lines } = linesLog();
    const store = await PostgresStore.open({ url, lottery: 'default', agencies: 2, log: logger, pollMs: 600_000, listen: false });
    t.teardown(() => store.close());
    const bets = generateBets({ seed: 3, count: 20 });
    t.deepEqual(await store.append(batch(1, bets, 0, 5)), { status: 'stored', next: 5, stored: 5 });
    // From now on a new session on this database is read-only, as on a standby in recovery; the store's are shut down (57P01).
    await psql(url, `alter database ${name} set default_transaction_read_only = on`);
    await psql(url, `select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = '${name}' and pid <> pg_backend_pid()`);
    await t.throwsAsync(store.append(batch(1, bets, 5, 10)), { instanceOf: StoreUnavailableError });
    // A fresh connection, read-only: the writes of HELLO and of a batch fail (25006), each on a connection then dropped.
    await t.throwsAsync(store.welcome(1), { instanceOf: StoreUnavailableError });
    await t.throwsAsync(store.append(batch(1, bets, 5, 10)), { instanceOf: StoreUnavailableError });
    await cluster.sql(`alter database ${name} reset default_transaction_read_only`);
    // Nothing is terminated this time: a pool that kept its read-only connection would fail again here.
    t.deepEqual(await store.append(batch(1, bets, 5, 10)), { status: 'stored', next: 10, stored: 5 });
    t.like(await store.welcome(1), { offset: 10, generation: 1 });
    t.is(lines.filter((line) => /action: store_db \| result: fail/.test(line)).length, 1, 'the outage is logged once');
    t.is(lines.filter((line) => /action: store_db \| result: success/.test(line)).length, 1, 'and its end once');
    t.is(await psql(url, `select count(*) from bets`), '10');
  });

  test('what a failed transaction caught up on is still told: a held WINNERS is not left for the next commit to answer', async (t) => {
    const url = await freshDatabase();
    const name = new URL(url).pathname.slice(1);
    let refreshed = 0;
    const a = await openPostgres(t, url, 'default', 2, undefined, 600_000, false);
    const b = await openPostgres(t, url, 'default', 2, () => refreshed++, 600_000, false);
    const bets = generateBets({ seed: 6, count: 10 });
    await a.append(batch(1, bets, 0, 5));
    await psql(url, `alter database ${name} set default_transaction_read_only = on`);
    await psql(url, `select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = '${name}' and pid <> pg_backend_pid()`);
    // Read-only sessions: HELLO catches up (or, on a connection already gone, fails first), then its write fails.
    await t.throwsAsync(b.welcome(1), { instanceOf: StoreUnavailableError });
    await t.throwsAsync(b.welcome(1), { instanceOf: StoreUnavailableError });
    await cluster.sql(`alter database ${name} reset default_transaction_read_only`);
    t.deepEqual(b.status(1), { next: 5, stored: 5, finished: false });
    t.is(refreshed, 1);
  });

  test('a transaction the database does not answer within its bound is STORE_UNAVAILABLE; the store goes on once it answers', async (t) => {
    const url = await freshDatabase();
    const store = await PostgresStore.open({
      url,
      lottery: 'default',
      agencies: 2,
      log,
      pollMs: 600_000,
      listen: false,
      // Long enough for a fresh connection's transaction on a busy machine; the held lock outlasts any bound.
      transactionTimeoutMs: 5000,
    });
    t.teardown(() => store.close());
    const bets = generateBets({ seed: 4, count: 10 });
    // Another session holds the lottery's row, as a front-end stuck mid-commit would.
    const holder = postgres(url, { max: 1, onnotice: () => undefined });
    t.teardown(() => holder.end({ timeout: 5 }));
    const held = await holder.reserve();
    await held`begin`;
    await held`select 1 from lotteries for update`;
    await t.throwsAsync(store.append(batch(1, bets, 0, 5)), { instanceOf: StoreUnavailableError });
    await held`rollback`;
    held.release();
    // The timed-out transaction's server side ends once it notices its client gone, after the lock it waited
    // for is freed; on a busy machine that may take longer than the next transaction's bound, which would then
    // wait for the lock in turn. Its end is awaited, not guessed at.
    await pollUntil(
      async () => (await holder`select count(*)::int as n from pg_stat_activity where application_name = 'lottery-server'`)[0]!.n === 0,
      'the timed-out transaction ending on the server',
    );
    t.deepEqual(await store.append(batch(1, bets, 0, 5)), { status: 'stored', next: 5, stored: 5 });
  });

  test("a lost front-end's session that the database does not end holds the row no longer than twice the bound: the next front-end ends it", async (t) => {
    const url = await freshDatabase();
    const { logger, lines } = linesLog();
    const bound = 2000;
    const store = await PostgresStore.open({
      url,
      lottery: 'default',
      agencies: 2,
      log: logger,
      pollMs: 600_000,
      listen: false,
      transactionTimeoutMs: bound,
    });
    t.teardown(() => store.close());
    const bets = generateBets({ seed: 6, count: 10 });
    // A front-end's session, as a lost one leaves it: the lottery's row taken, then busy for good (not idle,
    // so idle_in_transaction_session_timeout does not end it; without the Store's statement_timeout).
    const lost = postgres(url, { max: 1, onnotice: () => undefined, connection: { application_name: 'lottery-server' } });
    t.teardown(() => lost.end({ timeout: 1 }).catch(() => undefined));
    const held = await lost.reserve();
    await held`begin`;
    await held`select 1 from lotteries for update`;
    const sleeping = held`select pg_sleep(600)`.then(
      () => 'slept',
      (error: { code?: string }) => error.code,
    );
    const started = performance.now();
    // Each append waits for the row its bound and fails; one after the lost session's transaction is twice the bound old ends it.
    let outcome: unknown;
    for (let attempt = 1; attempt <= 6 && outcome === undefined; attempt++) {
      outcome = await store.append(batch(1, bets, 0, 5)).catch((error: Error) => {
        if (!(error instanceof StoreUnavailableError)) throw error;
        return undefined;
      });
    }
    t.deepEqual(outcome, { status: 'stored', next: 5, stored: 5 });
    t.not(await sleeping, 'slept', 'the lost session was ended, not left to sleep');
    t.is(await cluster.sql(`select count(*) from pg_stat_activity where query like 'select pg_sleep%'`), '0');
    t.true(performance.now() - started >= 2 * bound, 'not before its transaction was twice the bound old');
    t.true(
      lines.some((line) => /action: store_db_lost_sessions \| result: success \| ended: 1 /.test(line)),
      lines.join('\n'),
    );
  });

  test('with target_session_attrs=read-write, a hot standby named first is passed over for the primary', async (t) => {
    const pair = await PostgresCluster.start({ synchronousStandby: true });
    t.teardown(() => pair.remove());
    await pair.sql('create database pair');
    // A synchronous commit waits for the standby's flush, not its replay: the database is there once replayed.
    await pollUntil(
      async () => (await pair.sql(`select count(*) from pg_database where datname = 'pair'`, 'postgres', pair.standby)) === '1',
      'the standby replaying the new database',
    );
    const url = `postgres://lottery@127.0.0.1:${pair.standby!.port},127.0.0.1:${pair.primary.port}/pair?target_session_attrs=read-write`;
    const store = await PostgresStore.open({ url, lottery: 'default', agencies: 2, log, pollMs: 600_000 });
    t.teardown(() => store.close());
    const bets = generateBets({ seed: 5, count: 10 });
    t.like(await store.welcome(1), { offset: 0, generation: 1 });
    t.deepEqual(await store.append(batch(1, bets, 0, 5)), { status: 'stored', next: 5, stored: 5 });
    t.is(await pair.sql('select count(*) from bets', 'pair'), '5');
  });

  test('a database whose schema is newer than the server is refused with a message that says so', async (t) => {
    const url = await freshDatabase();
    await (await openPostgres(t, url)).close();
    await psql(url, `update lottery_schema set version = 99`);
    await t.throwsAsync(PostgresStore.open({ url, lottery: 'default', agencies: 2, log }), {
      message: /schema is at version 99, this lottery-server knows version 2: start a newer lottery-server$/,
    });
  });

  test('a database at schema version 1 (a row per bet) is refused, saying to give the lottery a new database', async (t) => {
    const url = await freshDatabase();
    await (await openPostgres(t, url)).close();
    await psql(url, `update lottery_schema set version = 1`);
    await t.throwsAsync(PostgresStore.open({ url, lottery: 'default', agencies: 2, log }), {
      message:
        /^the database's lottery schema is at version 1, this lottery-server knows version 2: version 1 kept a row per bet and there is no migration from it \(none was ever deployed\): give the lottery a new, empty database$/,
    });
  });
}

/** psql on the database of `url`; its unaligned output, trimmed. */
async function psql(url: string, statement: string): Promise<string> {
  return cluster.sql(statement, new URL(url).pathname.slice(1));
}
