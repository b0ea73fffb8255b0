// lottery-verify and the signed results: a lottery made by the real Store
// and Lottery (three agencies, names bets.csv must quote, a FINISH-only
// commit, a sales close), signed with a results identity of a real CA; then
// every kind of damage an auditor must catch, each checked by the verifier
// in memory and the exit codes by the program itself. openssl checks the
// signature as docs/storage.md says it can.
import test, { type ExecutionContext } from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Lottery } from '../src/actors/lottery.ts';
import { BETS_FILE, JOURNAL_FILE, Store } from '../src/actors/store.ts';
import { buildResults, RESULTS_FILE, SIGNATURE_FILE, SIGNER_CERT_FILE, writeResults } from '../src/audit/results.ts';
import { dataDirReader, verifyStoredLottery } from '../src/audit/verify.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { uploadDigestOf } from '../src/bets/upload-digest.ts';
import { createLogger } from '../src/log/logger.ts';
import { certificatePem, createCa, issueCertificate, privateKeyPem, validityFor } from '../src/pki/certificates.ts';
import { RESULTS_COMMON_NAME } from '../src/pki/identity.ts';
import { encodeRecord, parseJournal } from '../src/storage/journal.ts';
import { closeBytes, commitTail, drawBytes, CanonicalFromCsv } from '../src/bets/canonical-bet.ts';
import { CHAIN_START, nextChain } from '../src/storage/hash-chain.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { ErrorCode } from '../src/errors.ts';
import { makeResultsPki, type ResultsPki } from './helpers/pki-fixtures.ts';

const run = promisify(execFile);
const log = createLogger({ level: 'silent', format: 'text' });

const bets: Record<number, WireBet[]> = {
  1: [
    ['Juan, Jr.', 'Paz', '11', '2000-01-01', 7574],
    ['Ana', 'Gómez "la Tana"', '12', '2000-01-01', 7575],
  ],
  2: [
    ['María José', "O'Connor", '21', '2000-02-29', 7574],
    ['Pedro', 'Ruiz', '22', '1990-05-05', 7574],
  ],
  3: [['Luis', 'Sosa', '31', '1980-01-01', 7574]],
};

let pki: Promise<ResultsPki> | undefined;
const sharedPki = () => (pki ??= mkdtemp(join(tmpdir(), 'lottery-verify-pki-')).then(makeResultsPki));
test.after.always(async () => {
  if (pki !== undefined) await rm((await pki).dir, { recursive: true, force: true });
});

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-verify-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A drawn lottery of three agencies: 1 and 2 finish (2 in a FINISH-only
 * commit), 3 stores its bet and never finishes; sales close, the draw runs.
 */
async function drawnLottery(t: ExecutionContext, signed = true): Promise<string> {
  const dir = await tempDir(t);
  const { signer: results } = await sharedPki();
  const store = await Store.open({ dataDir: dir, fsync: false, log });
  const lottery = new Lottery({
    agencies: 3,
    store,
    log,
    onDrawn: async ({ chain }) =>
      writeResults(
        dir,
        buildResults(store.ledger, 3, (a) => store.uploadDigest(a), chain, store.chainHead),
        signed ? results : undefined,
      ),
  });
  for (const agency of [1, 2, 3]) {
    await store.append({ agency, offset: 0, count: bets[agency].length, rows: encodeCanonicalLines(agency, bets[agency]) });
  }
  t.like(await lottery.finish(1, 2, uploadDigestOf(1, bets[1])), { status: 'finished' });
  t.like(await lottery.finish(2, 2, uploadDigestOf(2, bets[2])), { status: 'finished' });
  const closed = await lottery.closeSales();
  t.deepEqual(closed?.unfinished, [3]);
  t.like(await lottery.winners(3), { status: 'drawn', documents: ['31'] });
  t.like(await store.append({ agency: 3, offset: 1, count: 1, rows: encodeCanonicalLines(3, bets[3]) }), { code: ErrorCode.SALES_CLOSED });
  await store.close();
  return dir;
}

const verify = async (dir: string, ca?: string) => verifyStoredLottery(dataDirReader(dir), ca);

test('a drawn and signed lottery verifies: every agency, the close, the winners, the digest and the signature', async (t) => {
  const dir = await drawnLottery(t);
  const { ca } = await sharedPki();
  const report = await verify(dir, ca);
  t.true(report.ok, report.problem);
  t.is(report.state, 'drawn');
  t.is(report.signature, 'verified');
  t.deepEqual(
    report.agencies.map(({ agency, bets, state, winners }) => ({ agency, bets, state, winners })),
    [
      { agency: 1, bets: 2, state: 'finished', winners: 1 },
      { agency: 2, bets: 2, state: 'finished', winners: 2 },
      { agency: 3, bets: 1, state: 'closed', winners: 1 },
    ],
  );
  t.truthy(report.closedAt);
  t.truthy(report.drawnAt);
  t.truthy(report.agencies[0].firstCommit);
  const results = JSON.parse(await readFile(join(dir, RESULTS_FILE), 'utf8'));
  t.is(results.chain, report.chain);
  t.deepEqual(
    results.agencies.map((a: { winners: string[] }) => a.winners),
    [['11'], ['21', '22'], ['31']],
  );
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
(hasOpenssl ? test : test.skip)(
  hasOpenssl
    ? 'openssl verifies the signature as docs/storage.md says'
    : 'openssl verifies the signature (skipped: install openssl to run it; .ci/run does)',
  async (t) => {
    const dir = await drawnLottery(t);
    await writeFile(join(dir, 'pub.pem'), (await run('openssl', ['x509', '-in', join(dir, SIGNER_CERT_FILE), '-pubkey', '-noout'])).stdout);
    // As docs/storage.md says: the signature over results.json's bytes, checked with the certificate's public key.
    const opensslVerify = () =>
      run('openssl', [
        'dgst',
        '-sha256',
        '-verify',
        join(dir, 'pub.pem'),
        '-signature',
        join(dir, SIGNATURE_FILE),
        join(dir, RESULTS_FILE),
      ]);
    const good = await opensslVerify();
    t.regex(good.stdout, /Verified OK/);
    const { ca } = await sharedPki();
    await writeFile(join(dir, 'ca.pem'), ca);
    const chained = await run('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', 'any', join(dir, SIGNER_CERT_FILE)]);
    t.regex(chained.stdout, /OK/);
    const results = await readFile(join(dir, RESULTS_FILE));
    results[results.indexOf('"21"') + 2] ^= 1;
    await writeFile(join(dir, RESULTS_FILE), results);
    const bad = await opensslVerify().catch((error: { stdout: string; code: number }) => error);
    t.regex((bad as { stdout: string }).stdout, /Verification failure/);
  },
);

test('a single-byte change anywhere in bets.csv, bets.journal or results.json is caught and located', async (t) => {
  const dir = await drawnLottery(t);
  const { ca } = await sharedPki();
  for (const file of [BETS_FILE, JOURNAL_FILE, RESULTS_FILE, SIGNATURE_FILE]) {
    const original = await readFile(join(dir, file));
    for (let at = 0; at < original.length; at++) {
      const changed = Buffer.from(original);
      changed[at] = changed[at] === 0x30 ? 0x31 : 0x30;
      await writeFile(join(dir, file), changed);
      const report = await verify(dir, ca);
      if (report.ok) t.fail(`${file} changed at byte ${at} verified`);
    }
    await writeFile(join(dir, file), original);
  }
  t.true((await verify(dir, ca)).ok);
  const csv = await readFile(join(dir, BETS_FILE));
  const edited = Buffer.from(csv);
  edited[csv.indexOf('22,1990') + 1] = 0x33;
  await writeFile(join(dir, BETS_FILE), edited);
  t.regex((await verify(dir, ca)).problem!, /bets\.csv bytes \d+ to \d+ \(group 2 of 5, committed by the journal record at byte \d+\)/);
});

test('a truncated file and reordered groups are caught', async (t) => {
  const dir = await drawnLottery(t);
  const { ca } = await sharedPki();
  const csvSize = (await stat(join(dir, BETS_FILE))).size;
  await truncate(join(dir, BETS_FILE), csvSize - 3);
  t.regex(
    (await verify(dir, ca)).problem!,
    new RegExp(`bets\\.csv has ${csvSize - 3} bytes but the journal records ${csvSize}: acknowledged bets are missing`),
  );
  await truncate(join(dir, BETS_FILE), 0);
  t.false((await verify(dir, ca)).ok);
  const other = await drawnLottery(t);
  const journal = (await readFile(join(other, JOURNAL_FILE), 'utf8')).split('\n');
  [journal[1], journal[2]] = [journal[2], journal[1]];
  await writeFile(join(other, JOURNAL_FILE), journal.join('\n'));
  t.false((await verify(other, ca)).ok);
  const cut = await drawnLottery(t);
  const whole = await readFile(join(cut, JOURNAL_FILE));
  await writeFile(join(cut, JOURNAL_FILE), whole.subarray(0, whole.length - 5));
  t.regex((await verify(cut, ca)).problem!, /cut short/);
});

test('whole journal records removed from its end are reported as recovery refuses them; a last group whose bets are short is noted, the rest checked', async (t) => {
  const { ca } = await sharedPki();
  const dir = await drawnLottery(t);
  const lines = (await readFile(join(dir, JOURNAL_FILE), 'utf8')).split(/(?<=\n)/);
  // Up to and including the last record that committed bets: the draw, the close and the FINISH-only commit after it go too.
  const last = lines.findLastIndex((line) => line.includes('"kind":"commit"') && line.includes('"3":'));
  await writeFile(join(dir, JOURNAL_FILE), lines.slice(0, last).join(''));
  const report = await verify(dir, ca);
  t.false(report.ok);
  t.regex(
    report.problem!,
    /bets\.csv holds \d+ bytes past byte \d+, where the journal's last commit ends it; .*records that committed them were removed/,
  );
  const store = Store.open({ dataDir: dir, fsync: false, log });
  t.is((await t.throwsAsync(store))!.message, `${report.problem}; refusing to start rather than cut or take again acknowledged bets`);
  // The last commit kept, its bets short by a byte: what a crash while writing them leaves, never answered.
  const csvSize = (await stat(join(dir, BETS_FILE))).size;
  await writeFile(join(dir, JOURNAL_FILE), lines.slice(0, last + 1).join(''));
  await truncate(join(dir, BETS_FILE), csvSize - 1);
  const torn = await verify(dir, ca);
  t.is(torn.problem, undefined);
  t.is(torn.state, 'open');
  t.is(torn.bets, 4);
  t.true(
    torn.notes.some((note) =>
      /the last commit record, \d+ of whose \d+ bytes of bets reached .*bets\.csv \(never answered\), not checked: a server writing it/.test(
        note,
      ),
    ),
    torn.notes.join('\n'),
  );
});

test('a forger who rewrites bets.csv, recomputes the chain, the FINISH digest, the draw and results.json is caught by the signature', async (t) => {
  const dir = await drawnLottery(t);
  const { ca } = await sharedPki();
  // Agency 1's losing bet made a winner, and everything computable recomputed, as an insider with the source could.
  const csv = (await readFile(join(dir, BETS_FILE), 'utf8')).replace('12,2000-01-01,7575\n', '12,2000-01-01,7574\n');
  await writeFile(join(dir, BETS_FILE), csv);
  await forgeJournal(dir, csv);
  const store = await Store.open({ dataDir: dir, fsync: false, log });
  const forged = buildResults(store.ledger, 3, (a) => store.uploadDigest(a), store.snapshot().chain, store.chainHead);
  await store.close();
  t.deepEqual(forged.agencies[0].winners, ['11', '12'], 'the forgery passes recovery: only the signature stands in its way');
  await writeResults(dir, forged, undefined);
  t.true((await verify(dir)).ok, 'without the CA nothing can tell');
  t.regex((await verify(dir, ca)).problem!, /results\.json\.sig is not a signature of results\.json/);
});

test('a changed winner is caught, and a signature under another CA is refused', async (t) => {
  const dir = await drawnLottery(t);
  const { ca, other } = await sharedPki();
  const journal = await readFile(join(dir, JOURNAL_FILE), 'utf8');
  const lines = journal.split('\n');
  const draw = lines.findIndex((line) => line.includes('"kind":"draw"'));
  const record = JSON.parse(lines[draw].slice(9));
  record.winners['1'] = ['99999999'];
  lines[draw] = encodeRecord(record).slice(0, -1);
  await writeFile(join(dir, JOURNAL_FILE), lines.join('\n'));
  t.regex((await verify(dir, ca)).problem!, /names winners that are not those of the bets in .*agency 1/);
  await writeFile(join(dir, JOURNAL_FILE), journal);
  t.true((await verify(dir, ca)).ok);
  t.regex((await verify(dir, other)).problem!, /results\.crt: not issued by the CA given with --tls-ca/);
});

test('lottery-verify exits 0 when everything holds, 1 naming the place, 2 on usage errors; --json for machines', async (t) => {
  const dir = await drawnLottery(t);
  const { dir: pkiDir, ca } = await sharedPki();
  await writeFile(join(pkiDir, 'ca.crt'), ca);
  const program = ['src/bin/lottery-verify.mjs'];
  const node = 'node_modules/.bin/node';
  const ok = await run(node, [...program, '--data-dir', dir, '--tls-ca', join(pkiDir, 'ca.crt')]);
  t.regex(ok.stdout, /OK: everything holds/);
  t.regex(ok.stdout, /agency 3: 1 bets of 1 offsets, closed, 1 winners/);
  const json = JSON.parse((await run(node, [...program, '--data-dir', dir, '--json'])).stdout);
  t.is(json.ok, true);
  t.is(json.state, 'drawn');
  const csv = await readFile(join(dir, BETS_FILE));
  csv[3] ^= 1;
  await writeFile(join(dir, BETS_FILE), csv);
  const failed = await run(node, [...program, '--data-dir', dir]).catch((error: { code: number; stdout: string }) => error);
  t.is((failed as { code: number }).code, 1);
  t.regex((failed as { stdout: string }).stdout, /FAILED: .*bets\.csv/);
  const usage = await run(node, [...program]).catch((error: { code: number; stderr: string }) => error);
  t.is((usage as { code: number }).code, 2);
  t.regex((usage as { stderr: string }).stderr, /--data-dir/);
  const noCa = await run(node, [...program, '--data-dir', dir, '--tls-ca', join(dir, 'nope.crt')]).catch(
    (error: { code: number; stderr: string }) => error,
  );
  t.is((noCa as { code: number }).code, 2);
  t.regex((noCa as { stderr: string }).stderr, /--tls-ca .*nope\.crt/);
});

/** The journal rewritten for `csv`: every commit's chain and FINISH digest, the close and the draw recomputed as the definition says. */
async function forgeJournal(dir: string, csv: string): Promise<void> {
  const { records } = parseJournal(await readFile(join(dir, JOURNAL_FILE)));
  const canonical = Buffer.from(new CanonicalFromCsv().push(Buffer.from(csv)));
  const lines = canonical.toString('utf8').split('\n').slice(0, -1);
  const digests = new Map<number, string[]>();
  for (const line of lines) digests.set(Number(line.split('\t')[0]), [...(digests.get(Number(line.split('\t')[0])) ?? []), `${line}\n`]);
  let chain = CHAIN_START;
  let position = 0;
  const out: string[] = [];
  for (const record of records) {
    if (record.kind === 'commit') {
      const bytes = Buffer.from(csv).subarray(position, record.csvEnd);
      position = record.csvEnd;
      for (const agency of Object.keys(record.finished ?? {})) {
        const rows = (digests.get(Number(agency)) ?? []).join('');
        record.finished![agency].digest = (await import('node:crypto')).createHash('sha256').update(rows).digest('hex');
      }
      chain = nextChain(chain, [new CanonicalFromCsv().push(bytes)], commitTail(record.agencies, record.finished, record.at));
      record.chain = chain;
    } else if (record.kind === 'close') {
      chain = nextChain(chain, [], closeBytes(record.at, record.unfinished));
      record.chain = chain;
    } else if (record.kind === 'draw') {
      record.winners['1'] = ['11', '12'];
      record.chain = chain;
      chain = nextChain(chain, [], drawBytes(record.at, record.winners));
      record.head = chain;
    }
    out.push(encodeRecord(record));
  }
  await writeFile(join(dir, JOURNAL_FILE), out.join(''));
}

test('the server refuses a results signer that is not the results identity, or a key not its own, naming the flag and the file', async (t) => {
  const { dir } = await sharedPki();
  const { loadResultsSignerOrExit, loadServerConfig } = await import('../src/config/server-config.ts');
  const signerFrom = (cert: string, key: string) =>
    loadResultsSignerOrExit(loadServerConfig(['--results-cert', join(dir, cert), '--results-key', join(dir, key)], {}));
  t.truthy(await signerFrom('results.crt', 'results.key'));
  await writeFile(
    join(dir, 'other.key'),
    await privateKeyPem(
      await issueCertificate(await createCa('x', validityFor(1)), {
        commonName: RESULTS_COMMON_NAME,
        usage: 'signing',
        validity: validityFor(1),
      }),
    ),
  );
  const wrongKey = await t.throwsAsync(signerFrom('results.crt', 'other.key'));
  t.regex(wrongKey!.message, /^lottery-server: --results-key \(LOTTERY_RESULTS_KEY\): .*other\.key is not the key of the certificate/);
  const missing = await t.throwsAsync(signerFrom('nope.crt', 'results.key'));
  t.regex(missing!.message, /^lottery-server: --results-cert \(LOTTERY_RESULTS_CERT\): .*nope\.crt: ENOENT/);
  const notCert = await t.throwsAsync(signerFrom('results.key', 'results.key'));
  t.regex(notCert!.message, /--results-cert \(LOTTERY_RESULTS_CERT\): .*results\.key: not a PEM certificate/);
  const ca = await createCa('Loteria Nacional CA', validityFor(1));
  const server = await issueCertificate(ca, { commonName: 'lottery-server', usage: 'server', validity: validityFor(1) });
  await writeFile(join(dir, 'server.crt'), certificatePem(server));
  await writeFile(join(dir, 'server.key'), await privateKeyPem(server));
  const notResults = await t.throwsAsync(signerFrom('server.crt', 'server.key'));
  t.regex(notResults!.message, /--results-cert \(LOTTERY_RESULTS_CERT\): .*server\.crt is not the results-signing identity/);
});
