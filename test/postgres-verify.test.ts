// lottery-verify --store: a lottery kept in PostgreSQL checked by the same
// replay as a data dir, against a real PostgreSQL 15 cluster of its own: a
// drawn and signed lottery holds; a changed bet, record, chain or
// results.json is caught and named; the program itself exits 0, 1 and 2.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildResults, resultsFiles } from '../src/audit/results.ts';
import { verifyStoredLottery } from '../src/audit/verify.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { uploadDigestOf } from '../src/bets/upload-digest.ts';
import { createLogger } from '../src/log/logger.ts';
import { PostgresStore } from '../src/storage/postgres/postgres-store.ts';
import { postgresLotteryReader } from '../src/storage/postgres/stored-lottery-reader.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { PostgresCluster, postgresMissing } from './helpers/postgres-cluster.ts';
import { makeResultsPki, type ResultsPki } from './helpers/pki-fixtures.ts';

const run = promisify(execFile);
type Failed = Error & { code?: number; stdout: string; stderr: string };
const log = createLogger({ level: 'silent', format: 'text' });
const missing = postgresMissing();
let cluster: PostgresCluster;
let databases = 0;
let pki: ResultsPki;

if (missing !== undefined) test.skip(missing, () => undefined);
else {
  test.before(async () => {
    cluster = await PostgresCluster.start();
    pki = await makeResultsPki(await mkdtemp(join(tmpdir(), 'lottery-pg-verify-pki-')));
  });
  test.after.always(async () => {
    await cluster?.remove();
    if (pki !== undefined) await rm(pki.dir, { recursive: true, force: true });
  });
  registerTests();
}

const bets: Record<number, WireBet[]> = {
  1: [
    ['Juan, Jr.', 'Paz', '11', '2000-01-01', 7574],
    ['Ana', 'Gómez "la Tana" \\ Núñez', '12', '2000-01-01', 7575],
  ],
  2: [
    ['María José', "O'Connor", '21', '2000-02-29', 7574],
    ['Pedro', 'Ruiz', '22', '1990-05-05', 7574],
  ],
  3: [['Luis', 'Sosa', '31', '1980-01-01', 7574]],
};

/**
 * A drawn lottery of three agencies in a database of its own: 1 and 2
 * finish (2 in a FINISH-only commit), 3 stores its bet and never finishes;
 * sales close, the draw runs, and the results are published signed.
 */
async function drawnLottery(t: ExecutionContext): Promise<{ url: string; database: string }> {
  const database = `v${++databases}`;
  const url = await cluster.database(database);
  const store = await PostgresStore.open({ url, lottery: 'spring', agencies: 3, log, pollMs: 1000 });
  t.teardown(() => store.close());
  const append = (agency: number, from: number, to: number) =>
    store.append({ agency, offset: from, count: to - from, rows: encodeCanonicalLines(agency, bets[agency].slice(from, to)) });
  await Promise.all([append(1, 0, 2), append(2, 0, 1)]);
  await store.finish(1, 2, uploadDigestOf(1, bets[1]));
  await append(2, 1, 2);
  await store.finish(2, 2, uploadDigestOf(2, bets[2]));
  await append(3, 0, 1);
  t.truthy(await store.closeSales(3));
  await store.draw(3);
  const results = buildResults(store.ledger, 3, (agency) => store.uploadDigest(agency), store.drawChain!, store.chainHead);
  await store.publish(resultsFiles(results, pki.signer));
  return { url, database };
}

async function verify(url: string, ca?: string, lottery = 'spring') {
  const reader = postgresLotteryReader(url, lottery);
  try {
    return await verifyStoredLottery(reader, ca);
  } finally {
    await reader.close();
  }
}

function registerTests(): void {
  test('a drawn, closed and signed lottery in the database checks out, with the same report a data dir would give', async (t) => {
    const { url } = await drawnLottery(t);
    const report = await verify(url, pki.ca);
    t.true(report.ok, report.problem);
    t.is(report.state, 'drawn');
    t.is(report.bets, 5);
    t.is(report.signature, 'verified');
    t.deepEqual(
      report.agencies.map(({ agency, bets, state, winners }) => ({ agency, bets, state, winners })),
      [
        { agency: 1, bets: 2, state: 'finished', winners: 1 },
        { agency: 2, bets: 2, state: 'finished', winners: 2 },
        { agency: 3, bets: 1, state: 'closed', winners: 1 },
      ],
    );
    t.regex(report.chain!, /^[0-9a-f]{64}$/);
    t.not(report.chain, report.head);
    t.false((await verify(url, pki.other)).ok, 'a signature under another CA fails');
  });

  test('a bet, a record, a chain value or results.json changed in the database is caught and named', async (t) => {
    const edits = [
      {
        sql: `update batches set lines = convert_to(replace(convert_from(lines, 'UTF8'), E'\\t22\\t', E'\\t99\\t'), 'UTF8') where agency = 2 and "offset" = 1`,
        problem: /the bets of lottery spring in .* \(as bets\.csv rows\) bytes \d+ to \d+ \(group \d of \d.*do not match the hash chain/,
      },
      {
        sql: `update records set body = jsonb_set(body, '{winners,1}', '["12"]') where kind = 'draw'`,
        problem: /the record of seq \d+ \(the draw\) names winners/,
      },
      {
        sql: `update records set chain = repeat('0', 64) where seq = 1`,
        problem: /\(group 1 of \d, committed by the record of seq 1\) do not match the hash chain/,
      },
      {
        sql: `update records set body = jsonb_set(body, '{at}', '"2020-01-01T00:00:00.000Z"') where kind = 'close'`,
        problem: /the record of seq \d+ \(the sales close\) does not match the hash chain/,
      },
      {
        sql: `update published set data = convert_to(replace(convert_from(data, 'UTF8'), '"31"', '"32"'), 'UTF8') where name = 'results.json'`,
        problem: /results\.json/,
      },
    ];
    for (const { sql, problem } of edits) {
      const { url, database } = await drawnLottery(t);
      await cluster.sql(sql, database);
      const report = await verify(url, pki.ca);
      t.false(report.ok, sql);
      t.regex(report.problem ?? '', problem, sql);
    }
  });

  test('lottery-verify --store exits 0 on a sound lottery, 1 naming a missing one, 2 without a store or a data dir, its password never shown', async (t) => {
    const { url } = await drawnLottery(t);
    const program = ['src/bin/lottery-verify.mjs'];
    const sound = await run(process.execPath, [...program, '--store', url, '--lottery', 'spring', '--tls-ca', join(pki.dir, 'ca.crt')]);
    t.regex(sound.stdout, /drawn/);
    const withPassword = url.replace('lottery@', 'lottery:hunter2@');
    const unknown = await t.throwsAsync(run(process.execPath, [...program, '--store', withPassword, '--lottery', 'autumn', '--json']));
    t.is((unknown as Failed).code, 1);
    t.regex((unknown as Failed).stdout, /no lottery named autumn/);
    t.notRegex(`${(unknown as Failed).stdout}${(unknown as Failed).stderr}`, /hunter2/);
    const usage = await t.throwsAsync(run(process.execPath, program));
    t.is((usage as Failed).code, 2);
    t.regex((usage as Failed).stderr, /--data-dir .* or --store .*: give exactly one/);
  });

  test('a database at schema version 1 (a row per bet) is refused by lottery-verify and lottery-export, saying what to do', async (t) => {
    const { url, database } = await drawnLottery(t);
    await cluster.sql('update lottery_schema set version = 1', database);
    const refused =
      "the database's lottery schema is at version 1, this lottery-{program} knows version 2: version 1 kept a row per bet and there is no migration from it (none was ever deployed): give the lottery a new, empty database";
    const report = await verify(url, pki.ca);
    t.false(report.ok);
    t.is(report.problem, `the bets of lottery spring in ${url} (as bets.csv rows): ${refused.replace('{program}', 'verify')}`);
    const exported = await t.throwsAsync(run(process.execPath, ['src/bin/lottery-export.mjs', '--store', url, '--lottery', 'spring']));
    t.is((exported as Failed).code, 1);
    t.is((exported as Failed).stdout, '', 'nothing that looks like an export');
    t.is(
      (exported as Failed).stderr,
      `lottery-export: cannot read the lottery spring of ${url}: ${refused.replace('{program}', 'export')}\n`,
    );
  });

  test('lottery-verify and lottery-export given a first host that hangs go on to the next after the connect timeout', async (t) => {
    const { url } = await drawnLottery(t);
    // Takes connections and never answers them: a database machine frozen, its kernel still accepting.
    const net = await import('node:net');
    const { once } = await import('node:events');
    const held: import('node:net').Socket[] = [];
    const hung = net.createServer((socket) => held.push(socket));
    hung.listen(0, '127.0.0.1');
    await once(hung, 'listening');
    t.teardown(() => {
      held.forEach((socket) => socket.destroy());
      hung.close();
    });
    const { port } = hung.address() as import('node:net').AddressInfo;
    const twoHosts = url.replace('@127.0.0.1:', `@127.0.0.1:${port},127.0.0.1:`);
    const [verified, exported] = await Promise.all([
      run(process.execPath, [
        'src/bin/lottery-verify.mjs',
        '--store',
        twoHosts,
        '--lottery',
        'spring',
        '--tls-ca',
        join(pki.dir, 'ca.crt'),
      ]),
      run(process.execPath, ['src/bin/lottery-export.mjs', '--store', twoHosts, '--lottery', 'spring']),
    ]);
    t.regex(verified.stdout, /drawn/);
    t.is(exported.stdout.trim().split('\n').length, 1 + 5, 'the header and the five bets');
    t.is(held.length, 2, 'each program tried the hung host first');
  });
}
