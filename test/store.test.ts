import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, open, readFile, rm, stat, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BETS_FILE, JOURNAL_FILE, Store } from '../src/actors/store.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { encodeBetRows } from '../src/bets/bets-csv.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { EMPTY_UPLOAD_DIGEST, uploadDigestOf } from '../src/bets/upload-digest.ts';
import { createLogger } from '../src/log/logger.ts';
import { encodeRecord, JOURNAL_FORMAT, parseJournal, type JournalRecord } from '../src/storage/journal.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { ErrorCode, StoreFailedError, StoreRecoveryError } from '../src/errors.ts';

const log = createLogger({ level: 'silent', format: 'text' });

async function dataDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A store on `dir`, closed after the test if the test has not closed it. */
async function openStore(t: ExecutionContext, dir: string): Promise<Store> {
  const store = await Store.open({ dataDir: dir, fsync: true, log });
  t.teardown(() => store.close());
  return store;
}

const csvOf = async (dir: string) => readFile(join(dir, BETS_FILE), 'utf8');
const journalOf = async (dir: string): Promise<JournalRecord[]> => parseJournal(await readFile(join(dir, JOURNAL_FILE))).records;
const commitsOf = async (dir: string) => (await journalOf(dir)).filter((record) => record.kind === 'commit');

/** The append of bets[from..to) of an agency's stream. */
const batch = (agency: number, bets: readonly WireBet[], from: number, to: number) => ({
  agency,
  offset: from,
  count: to - from,
  rows: encodeCanonicalLines(agency, bets.slice(from, to)),
});

/** The record a journal starts with: the format it is written in. */
const formatRecord = encodeRecord({ kind: 'format', version: JOURNAL_FORMAT });

const rowsText = (agency: number, bets: readonly WireBet[]) => Buffer.from(encodeBetRows(agency, bets)).toString('utf8');

test('appends in order are stored and bets.csv holds exactly their rows', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const one = generateBets({ seed: 1, count: 30 });
  const two = generateBets({ seed: 2, count: 10 });
  t.deepEqual(await store.append(batch(1, one, 0, 10)), { status: 'stored', next: 10, stored: 10 });
  t.deepEqual(await store.append(batch(2, two, 0, 10)), { status: 'stored', next: 10, stored: 10 });
  t.deepEqual(await store.append(batch(1, one, 10, 30)), { status: 'stored', next: 30, stored: 20 });
  t.is(await csvOf(dir), rowsText(1, one.slice(0, 10)) + rowsText(2, two) + rowsText(1, one.slice(10)));
  t.deepEqual(store.status(1), { next: 30, stored: 30, finished: false });
  t.deepEqual(store.status(2), { next: 10, stored: 10, finished: false });
  t.deepEqual(store.welcome(1), { offset: 30, finished: false, drawn: false });
  t.deepEqual(store.welcome(3), { offset: 0, finished: false, drawn: false });
  t.is(store.snapshot().bets, 40);
});

test('appendAll decides its batches in order, as separate appends would, in one group commit', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const bets = generateBets({ seed: 5, count: 30 });
  const outcomes = await store.appendAll([
    batch(1, bets, 0, 10),
    batch(1, bets, 0, 10),
    { ...batch(2, bets, 0, 5), rows: null },
    batch(1, bets, 10, 30),
    batch(3, bets, 4, 6),
  ]);
  t.deepEqual(outcomes, [
    { status: 'stored', next: 10, stored: 10 },
    { status: 'duplicate', next: 10 },
    { status: 'invalid', next: 5 },
    { status: 'stored', next: 30, stored: 20 },
    { status: 'rejected', code: ErrorCode.OFFSET_GAP, message: 'batch starts at 4 but the next bet expected is 0', next: 0 },
  ]);
  t.is(await csvOf(dir), rowsText(1, bets));
  t.is((await commitsOf(dir)).length, 1);
});

test('a resent batch is a duplicate: no rows written and the next offset unchanged', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const bets = generateBets({ seed: 3, count: 20 });
  await store.append(batch(1, bets, 0, 10));
  await store.append(batch(1, bets, 10, 20));
  const before = await csvOf(dir);
  t.deepEqual(await store.append(batch(1, bets, 0, 10)), { status: 'duplicate', next: 20 });
  t.deepEqual(await store.append(batch(1, bets, 10, 20)), { status: 'duplicate', next: 20 });
  t.deepEqual(await store.append(batch(1, bets, 5, 20)), { status: 'duplicate', next: 20 });
  t.is(await csvOf(dir), before);
  t.deepEqual(store.status(1), { next: 20, stored: 20, finished: false });
});

test('a batch that overlaps the stored prefix stores only its new tail', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const bets = generateBets({ seed: 4, count: 20 });
  await store.append(batch(1, bets, 0, 8));
  t.deepEqual(await store.append(batch(1, bets, 5, 15)), { status: 'stored', next: 15, stored: 7 });
  t.is(await csvOf(dir), rowsText(1, bets.slice(0, 15)));
  t.deepEqual(store.status(1), { next: 15, stored: 15, finished: false });
});

test('a batch that starts past the next offset is rejected with OFFSET_GAP and writes nothing', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const bets = generateBets({ seed: 5, count: 20 });
  await store.append(batch(1, bets, 0, 5));
  const outcome = await store.append(batch(1, bets, 6, 10));
  t.like(outcome, { status: 'rejected', code: ErrorCode.OFFSET_GAP, next: 5 });
  t.is(await csvOf(dir), rowsText(1, bets.slice(0, 5)));
  t.deepEqual(store.status(1), { next: 5, stored: 5, finished: false });
  // A gap on a fresh agency too.
  t.like(await store.append(batch(2, bets, 1, 3)), { status: 'rejected', code: ErrorCode.OFFSET_GAP, next: 0 });
});

test('a refused batch uses up its offsets and writes nothing', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const bets = generateBets({ seed: 6, count: 20 });
  await store.append(batch(1, bets, 0, 5));
  t.deepEqual(await store.append({ agency: 1, offset: 5, count: 5, rows: null }), { status: 'invalid', next: 10 });
  t.is(await csvOf(dir), rowsText(1, bets.slice(0, 5)));
  t.deepEqual(store.status(1), { next: 10, stored: 5, finished: false });
  // Resent, it is a duplicate; the next batch follows on.
  t.deepEqual(await store.append({ agency: 1, offset: 5, count: 5, rows: null }), { status: 'duplicate', next: 10 });
  t.deepEqual(await store.append(batch(1, bets, 10, 20)), { status: 'stored', next: 20, stored: 10 });
  t.is(await csvOf(dir), rowsText(1, bets.slice(0, 5)) + rowsText(1, bets.slice(10, 20)));
  // FINISH counts offsets, refused ones included; its digest covers the stored rows only.
  const digest = uploadDigestOf(1, [...bets.slice(0, 5), ...bets.slice(10, 20)]);
  t.like(await store.finish(1, 20, uploadDigestOf(1, bets)), { status: 'rejected', code: ErrorCode.DIGEST_MISMATCH });
  t.deepEqual(await store.finish(1, 20, digest), { status: 'finished', total: 20, digest });
});

test('appends issued at once are committed as one group and all resolve', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const agencies = [1, 2, 3, 4, 5];
  const streams = agencies.map((agency) => generateBets({ seed: 10 + agency, count: 100 }));
  const pending = [];
  // 50 appends: ten consecutive batches for each of five agencies, interleaved.
  for (let i = 0; i < 10; i++) {
    for (const agency of agencies) pending.push(store.append(batch(agency, streams[agency - 1], i * 10, i * 10 + 10)));
  }
  const outcomes = await Promise.all(pending);
  t.is(outcomes.length, 50);
  outcomes.forEach((outcome, j) => t.deepEqual(outcome, { status: 'stored', next: (Math.floor(j / 5) + 1) * 10, stored: 10 }));
  const commits = await commitsOf(dir);
  t.true(commits.length >= 1 && commits.length <= 2, `${commits.length} commit records for 50 appends`);
  for (const agency of agencies) t.deepEqual(store.status(agency), { next: 100, stored: 100, finished: false });
  // Each agency's rows are in its own order.
  const lines = (await csvOf(dir)).trimEnd().split('\n');
  t.is(lines.length, 500);
  for (const agency of agencies) {
    t.deepEqual(
      lines
        .filter((line) => line.startsWith(`${agency},`))
        .map((line) => `${line}\n`)
        .join(''),
      rowsText(agency, streams[agency - 1]),
    );
  }
});

test('a group decides each append against the ones before it in the same group', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const bets = generateBets({ seed: 7, count: 30 });
  const outcomes = await Promise.all([
    store.append(batch(1, bets, 0, 10)),
    store.append(batch(1, bets, 0, 10)), // duplicate of the one before
    store.append(batch(1, bets, 20, 30)), // gap: 10..20 not sent yet
    store.append(batch(1, bets, 5, 20)), // overlap: stores 10..20
  ]);
  t.deepEqual(outcomes[0], { status: 'stored', next: 10, stored: 10 });
  t.deepEqual(outcomes[1], { status: 'duplicate', next: 10 });
  t.like(outcomes[2], { status: 'rejected', code: ErrorCode.OFFSET_GAP, next: 10 });
  t.deepEqual(outcomes[3], { status: 'stored', next: 20, stored: 10 });
  t.is(await csvOf(dir), rowsText(1, bets.slice(0, 20)));
});

test('a duplicate-only group writes no commit record', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const bets = generateBets({ seed: 8, count: 10 });
  await store.append(batch(1, bets, 0, 10));
  const before = (await commitsOf(dir)).length;
  await store.append(batch(1, bets, 0, 10));
  t.is((await commitsOf(dir)).length, before);
});

test('FINISH with the wrong total is TOTAL_MISMATCH, with the wrong digest DIGEST_MISMATCH; the right one is recorded; bets after it are AGENCY_FINISHED', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const bets = generateBets({ seed: 9, count: 12 });
  await store.append(batch(1, bets, 0, 10));
  const digest = uploadDigestOf(1, bets.slice(0, 10));
  t.like(await store.finish(1, 12, digest), { status: 'rejected', code: ErrorCode.TOTAL_MISMATCH, next: 10 });
  // Same count, other rows: one changed field is enough.
  const forged = bets.slice(0, 10).map((bet, i) => (i === 4 ? ([bet[0], bet[1], bet[2], bet[3], 7574] as WireBet) : bet));
  const mismatch = await store.finish(1, 10, uploadDigestOf(1, forged));
  t.like(mismatch, { status: 'rejected', code: ErrorCode.DIGEST_MISMATCH, next: 10 });
  t.regex((mismatch as { message: string }).message, /does not hold exactly the agency's rows/);
  t.false(store.status(1).finished);
  t.deepEqual(await store.finish(1, 10, digest), { status: 'finished', total: 10, digest });
  t.true(store.status(1).finished);
  t.deepEqual(store.welcome(1), { offset: 10, finished: true, drawn: false, total: 10, digest });
  const finishes = async () => (await commitsOf(dir)).flatMap((record) => Object.entries(record.finished ?? {}));
  t.deepEqual(await finishes(), [['1', { total: 10, digest }]]);
  // A repeated FINISH is answered the same and not recorded again; one that says otherwise is refused.
  t.deepEqual(await store.finish(1, 10, digest), { status: 'finished', total: 10, digest });
  t.like(await store.finish(1, 11, digest), { status: 'rejected', code: ErrorCode.AGENCY_FINISHED });
  t.is((await finishes()).length, 1);
  const before = await csvOf(dir);
  t.like(await store.append(batch(1, bets, 10, 12)), { status: 'rejected', code: ErrorCode.AGENCY_FINISHED });
  t.like(await store.append(batch(1, bets, 0, 10)), { status: 'rejected', code: ErrorCode.AGENCY_FINISHED });
  t.is(await csvOf(dir), before);
  // An agency that sent nothing finishes with total 0 and the digest of nothing.
  t.deepEqual(await store.finish(2, 0, EMPTY_UPLOAD_DIGEST), { status: 'finished', total: 0, digest: EMPTY_UPLOAD_DIGEST });
});

test('FINISHes ride the group commit: many at once are one journal record, after the appends before them', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const streams = [1, 2, 3, 4, 5].map((agency) => generateBets({ seed: 90 + agency, count: 10 }));
  for (const [i, bets] of streams.entries()) await store.append(batch(i + 1, bets, 0, 10));
  const before = (await commitsOf(dir)).length;
  const outcomes = await Promise.all([
    ...streams.map((bets, i) => store.finish(i + 1, 10, uploadDigestOf(i + 1, bets))),
    // An append and its agency's FINISH in the same group: the FINISH sees the append.
    store.append(batch(6, streams[0], 0, 10)),
    store.finish(6, 10, uploadDigestOf(6, streams[0])),
  ]);
  t.true(
    outcomes.every((outcome) => outcome.status === 'finished' || outcome.status === 'stored'),
    JSON.stringify(outcomes),
  );
  const commits = (await commitsOf(dir)).slice(before);
  t.is(commits.length, 1);
  t.deepEqual(Object.keys(commits[0].finished ?? {}).sort(), ['1', '2', '3', '4', '5', '6']);
});

test("draw(N) returns each agency's winning documents and bets after it are DRAW_DONE", async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const one = generateBets({ seed: 21, count: 50, winnerRows: [3, 40] });
  const two = generateBets({ seed: 22, count: 50, winnerRows: [0] });
  const three = generateBets({ seed: 23, count: 20 });
  await store.append(batch(1, one, 0, 50));
  await store.append(batch(2, two, 0, 50));
  await store.append(batch(3, three, 0, 20));
  const { winners } = await store.draw(3);
  t.deepEqual(winners, { '1': [one[3][2], one[40][2]], '2': [two[0][2]], '3': [] });
  t.true(store.welcome(1).drawn);
  t.deepEqual(store.snapshot().winners, winners);
  t.deepEqual((await store.draw(3)).winners, winners);
  t.is((await journalOf(dir)).filter((record) => record.kind === 'draw').length, 1);
  const before = await csvOf(dir);
  t.like(await store.append(batch(3, generateBets({ seed: 24, count: 5 }), 20, 25)), { status: 'rejected', code: ErrorCode.DRAW_DONE });
  t.like(await store.append(batch(4, three, 0, 5)), { status: 'rejected', code: ErrorCode.DRAW_DONE });
  t.is(await csvOf(dir), before);
});

test('the draw lists agencies 1..N even when some sent nothing', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  t.deepEqual((await store.draw(3)).winners, { '1': [], '2': [], '3': [] });
});

test('reopening the same data dir restores offsets, finishes and the draw', async (t) => {
  const dir = await dataDir(t);
  const one = generateBets({ seed: 31, count: 40, winnerRows: [7] });
  const two = generateBets({ seed: 32, count: 40, winnerRows: [1, 2] });
  const first = await Store.open({ dataDir: dir, fsync: true, log });
  await first.append(batch(1, one, 0, 40));
  await first.append(batch(2, two, 0, 25));
  await first.append({ agency: 2, offset: 25, count: 5, rows: null });
  await first.finish(1, 40, uploadDigestOf(1, one));
  const snapshot = first.snapshot();
  await first.close();

  const second = await Store.open({ dataDir: dir, fsync: true, log });
  t.deepEqual(second.snapshot(), snapshot);
  t.deepEqual(second.status(2), { next: 30, stored: 25, finished: false });
  t.like(await second.append(batch(1, one, 0, 5)), { status: 'rejected', code: ErrorCode.AGENCY_FINISHED });
  t.deepEqual(await second.append(batch(2, two, 25, 30)), { status: 'duplicate', next: 30 });
  t.deepEqual(await second.append(batch(2, two, 30, 40)), { status: 'stored', next: 40, stored: 10 });
  await second.finish(2, 40, uploadDigestOf(2, [...two.slice(0, 25), ...two.slice(30)]));
  const { winners, chain } = await second.draw(2);
  t.is(chain, second.snapshot().chain);
  t.deepEqual(winners, { '1': [one[7][2]], '2': [two[1][2], two[2][2]] });
  await second.close();

  const third = await openStore(t, dir);
  t.deepEqual(third.snapshot().winners, winners);
  t.deepEqual(await third.draw(2), { winners, chain });
  t.deepEqual(third.welcome(2), {
    offset: 40,
    finished: true,
    drawn: true,
    total: 40,
    digest: uploadDigestOf(2, [...two.slice(0, 25), ...two.slice(30)]),
  });
  t.deepEqual(third.status(1), { next: 40, stored: 40, finished: true });
  t.deepEqual(third.status(2), { next: 40, stored: 35, finished: true });
  t.is(await csvOf(dir), rowsText(1, one) + rowsText(2, two.slice(0, 25)) + rowsText(2, two.slice(30)));
});

/** A data dir holding two committed batches for agency 1; returns the committed bets.csv and journal. */
async function committedDir(t: ExecutionContext) {
  const dir = await dataDir(t);
  const bets = generateBets({ seed: 41, count: 30 });
  const store = await Store.open({ dataDir: dir, fsync: true, log });
  await store.append(batch(1, bets, 0, 10));
  await store.append(batch(1, bets, 10, 20));
  await store.close();
  return { dir, bets, csv: await csvOf(dir), journal: await readFile(join(dir, JOURNAL_FILE)) };
}

/** The journal's lines, each with its newline, and where each starts. */
const journalLines = (journal: Buffer) => journal.toString('utf8').split(/(?<=\n)/);

test('recovery cuts a last commit record whose bets were cut short, and those bets: that group was never answered', async (t) => {
  const { dir, bets, csv, journal } = await committedDir(t);
  // The record is written and synced before its bets; the power went half way through the bets.
  const lines = journalLines(journal);
  const lastRecord = lines.at(-1)!;
  const before = journal.subarray(0, journal.length - Buffer.byteLength(lastRecord));
  const secondBatch = rowsText(1, bets.slice(10, 20));
  await truncate(join(dir, BETS_FILE), Buffer.byteLength(csv) - Buffer.byteLength(secondBatch) + 15);
  const store = await openStore(t, dir);
  t.deepEqual(store.status(1), { next: 10, stored: 10, finished: false });
  t.is(await csvOf(dir), rowsText(1, bets.slice(0, 10)));
  t.deepEqual(await readFile(join(dir, JOURNAL_FILE)), before);
  // The agency resends and the store takes it.
  t.deepEqual(await store.append(batch(1, bets, 10, 30)), { status: 'stored', next: 30, stored: 20 });
  await store.close();
  const again = await openStore(t, dir);
  t.deepEqual(again.status(1), { next: 30, stored: 30, finished: false });
  t.is(await csvOf(dir), rowsText(1, bets));
});

test('recovery cuts a journal record cut in half: its bets were never written', async (t) => {
  const { dir, bets, csv, journal } = await committedDir(t);
  // A group that wrote half its record when the power went: its bets come after it.
  const record = encodeRecord({
    kind: 'commit',
    at: '2026-12-04T21:00:00.000Z',
    csvEnd: Buffer.byteLength(csv + rowsText(1, bets.slice(20, 30))),
    chain: '0'.repeat(64),
    agencies: { '1': { next: 30, stored: 30 } },
  });
  await appendFile(join(dir, JOURNAL_FILE), record.slice(0, Math.floor(record.length / 2)));
  const store = await openStore(t, dir);
  t.deepEqual(store.status(1), { next: 20, stored: 20, finished: false });
  t.is(await csvOf(dir), csv);
  t.deepEqual(await readFile(join(dir, JOURNAL_FILE)), journal);
  t.deepEqual(await store.append(batch(1, bets, 20, 30)), { status: 'stored', next: 30, stored: 10 });
  await store.close();
  const again = await openStore(t, dir);
  t.deepEqual(again.status(1), { next: 30, stored: 30, finished: false });
  t.is(await csvOf(dir), rowsText(1, bets));
});

test('whole journal records removed from its end are refused, not taken for a torn tail: acknowledged bets stay', async (t) => {
  const { dir, csv, journal } = await committedDir(t);
  const lines = journalLines(journal);
  for (const removed of [1, 2]) {
    await writeFile(join(dir, JOURNAL_FILE), lines.slice(0, lines.length - removed).join(''));
    const error = await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
    t.regex(
      error!.message,
      /bets\.csv holds \d+ bytes past byte \d+, where the journal's last commit ends it; .*records that committed them were removed/,
    );
    // The evidence is left alone.
    t.is(await csvOf(dir), csv);
  }
});

test('rows added to bets.csv past the last commit are refused, whole or torn: the server never writes bets before their record', async (t) => {
  const { dir, bets, csv, journal } = await committedDir(t);
  for (const added of [rowsText(1, bets.slice(20, 25)), rowsText(1, bets.slice(20, 21)).slice(0, 15)]) {
    await writeFile(join(dir, BETS_FILE), csv + added);
    const error = await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
    t.regex(error!.message, new RegExp(`holds ${Buffer.byteLength(added)} bytes past byte ${Buffer.byteLength(csv)}`));
    t.is(await csvOf(dir), csv + added);
    t.deepEqual(await readFile(join(dir, JOURNAL_FILE)), journal);
  }
});

test('bets.csv shorter than the journal says, past its last group, makes Store.open reject with StoreRecoveryError', async (t) => {
  const { dir, bets, csv } = await committedDir(t);
  // Into the group before the last: no crash leaves that, as the last group's bets are written only after the group before was answered.
  const cut = Buffer.byteLength(rowsText(1, bets.slice(0, 10))) - 1;
  await truncate(join(dir, BETS_FILE), cut);
  const error = await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
  t.regex(error!.message, new RegExp(`has ${cut} bytes but the journal records ${Buffer.byteLength(csv)}: acknowledged bets are missing`));
  // The evidence is left alone.
  t.is((await stat(join(dir, BETS_FILE))).size, cut);
});

test('bets.csv whose last committed bytes were changed makes Store.open reject with StoreRecoveryError', async (t) => {
  const { dir, csv } = await committedDir(t);
  const damaged = Buffer.from(csv);
  damaged[damaged.length - 3] ^= 0x01;
  await writeFile(join(dir, BETS_FILE), damaged);
  await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
});

test('a journal damaged before its last record makes Store.open reject with StoreRecoveryError', async (t) => {
  const { dir, journal } = await committedDir(t);
  const text = journal.toString('utf8');
  await writeFile(join(dir, JOURNAL_FILE), 'x' + text.slice(1));
  await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
});

test('bets.csv present without a journal makes Store.open reject with StoreRecoveryError', async (t) => {
  const dir = await dataDir(t);
  await writeFile(join(dir, BETS_FILE), rowsText(1, generateBets({ seed: 51, count: 3 })));
  const error = await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
  t.regex(error!.message, /journal/);
});

test('an empty bets.csv without a journal is a fresh start', async (t) => {
  const dir = await dataDir(t);
  await writeFile(join(dir, BETS_FILE), '');
  const store = await openStore(t, dir);
  t.deepEqual(store.snapshot(), { agencies: {}, winners: null, bets: 0, chain: '0'.repeat(64) });
});

test('open creates the data dir and both files; the journal starts with the format it is written in', async (t) => {
  const dir = join(await dataDir(t), 'nested', 'data');
  await openStore(t, dir);
  t.is((await stat(join(dir, BETS_FILE))).size, 0);
  t.is(await readFile(join(dir, JOURNAL_FILE), 'utf8'), formatRecord);
  t.deepEqual(await journalOf(dir), [{ kind: 'format', version: JOURNAL_FORMAT }]);
});

test('close() twice is safe, and appends after close reject', async (t) => {
  const dir = await dataDir(t);
  const store = await Store.open({ dataDir: dir, fsync: true, log });
  const bets = generateBets({ seed: 61, count: 5 });
  const pending = store.append(batch(1, bets, 0, 5));
  await Promise.all([store.close(), store.close()]);
  await store.close();
  t.deepEqual(await pending, { status: 'stored', next: 5, stored: 5 });
  await t.throwsAsync(store.append(batch(1, bets, 0, 5)));
  t.is(await csvOf(dir), rowsText(1, bets));
});

test('a change to any committed byte of bets.csv, not only the last group, is refused at start, saying which group', async (t) => {
  const { dir, csv } = await committedDir(t);
  // A forged winner in the first group: a DNI changed, its number made 7574, same length.
  const lines = csv.split('\n');
  const fields = lines[2].split(',');
  fields[3] = fields[3].replace(/^\d/, (digit) => String((Number(digit) + 1) % 10));
  fields[5] = '7574'.slice(0, fields[5].length).padStart(fields[5].length, '7');
  lines[2] = fields.join(',');
  const forged = lines.join('\n');
  t.is(Buffer.byteLength(forged), Buffer.byteLength(csv));
  await writeFile(join(dir, BETS_FILE), forged);
  const firstGroupEnd = Buffer.byteLength(rowsText(1, generateBets({ seed: 41, count: 30 }).slice(0, 10)));
  const error = await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
  const firstRecordAt = Buffer.byteLength(formatRecord);
  t.regex(
    error!.message,
    new RegExp(`bytes 0 to ${firstGroupEnd} \\(group 1 of 2, committed by the journal record at byte ${firstRecordAt}\\)`),
  );
  t.regex(error!.message, /hash chain/);
});

test('a journal written by the version that chained the bytes of bets.csv is refused at start, saying so', async (t) => {
  const dir = await dataDir(t);
  // What that version wrote for one batch: no format record, its chain over the CSV row.
  const row = rowsText(1, generateBets({ seed: 71, count: 1 }));
  await writeFile(join(dir, BETS_FILE), row);
  const chain = createHash('sha256').update(Buffer.alloc(32)).update(row).digest('hex');
  const commit = { kind: 'commit', csvEnd: Buffer.byteLength(row), chain, agencies: { 1: { next: 1, stored: 1 } } };
  await writeFile(join(dir, JOURNAL_FILE), encodeRecord(commit as unknown as JournalRecord));
  const error = await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
  t.is(
    error!.message,
    'the journal was written by an earlier version of the server (its hash chain and upload digests are over the bytes of bets.csv): ' +
      'finish that lottery with that version, or start this one with a new data dir',
  );
  // The evidence is left alone.
  t.is(await csvOf(dir), row);
});

test('a journal in a format this server does not write is refused at start', async (t) => {
  const dir = await dataDir(t);
  await writeFile(join(dir, JOURNAL_FILE), encodeRecord({ kind: 'format', version: JOURNAL_FORMAT + 1 }));
  const error = await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
  t.regex(error!.message, new RegExp(`format ${JOURNAL_FORMAT + 1}, this server writes format ${JOURNAL_FORMAT}`));
});

test('a journal written before the hash chain is refused with a message that says so', async (t) => {
  const dir = await dataDir(t);
  await writeFile(join(dir, BETS_FILE), '');
  await writeFile(join(dir, JOURNAL_FILE), encodeRecord({ kind: 'commit', csvEnd: 0, crc: 0, agencies: {} } as unknown as JournalRecord));
  const error = await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
  t.regex(error!.message, /earlier version .*new data dir/);
});

/** Opens files whose writes fail while `failing.writes` is set, as a full disk would make them. */
function faultyFiles(failing: { writes: boolean; syncs: boolean }) {
  return async (path: string, flags: number, mode: number): Promise<FileHandle> => {
    const handle = await open(path, flags, mode);
    return new Proxy(handle, {
      get(target, name) {
        const value = Reflect.get(target, name, target) as unknown;
        if (typeof value !== 'function') return value;
        if (name === 'writev' && failing.writes) {
          // Half of it lands, then the disk is full.
          return async (buffers: Uint8Array[], position: number) => {
            const half = Buffer.concat(buffers).subarray(0, Math.ceil(Buffer.concat(buffers).length / 2));
            await target.write(half, 0, half.length, position);
            throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          };
        }
        if ((name === 'datasync' || name === 'sync') && failing.syncs)
          return async () => {
            throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
          };
        return value.bind(target);
      },
    });
  };
}

test('a failed group commit rejects its appends and cuts bets.csv back to the committed end before anything else is written', async (t) => {
  const dir = await dataDir(t);
  const failing = { writes: false, syncs: false };
  const store = await Store.open({ dataDir: dir, fsync: true, log, openFile: faultyFiles(failing) });
  t.teardown(() => store.close());
  const bets = generateBets({ seed: 71, count: 30 });
  await store.append(batch(1, bets, 0, 10));
  const committed = await csvOf(dir);
  failing.writes = true;
  await t.throwsAsync(store.append(batch(1, bets, 10, 20)), { message: /ENOSPC/ });
  // Nothing uncommitted stays for the draw or an operator to read.
  t.is(await csvOf(dir), committed);
  t.deepEqual(store.status(1), { next: 10, stored: 10, finished: false });
  failing.writes = false;
  t.deepEqual(await store.append(batch(1, bets, 10, 30)), { status: 'stored', next: 30, stored: 20 });
  t.deepEqual(await store.finish(1, 30, uploadDigestOf(1, bets)), { status: 'finished', total: 30, digest: uploadDigestOf(1, bets) });
  await store.close();
  const again = await openStore(t, dir);
  t.deepEqual(again.status(1), { next: 30, stored: 30, finished: true });
  t.is(await csvOf(dir), rowsText(1, bets));
});

test('a failed sync stops the Store for good: what is on disk is unknown until recovery reads it', async (t) => {
  const dir = await dataDir(t);
  const failing = { writes: false, syncs: false };
  const failures: Error[] = [];
  const store = await Store.open({
    dataDir: dir,
    fsync: true,
    log,
    openFile: faultyFiles(failing),
    onFailure: (error) => failures.push(error),
  });
  const bets = generateBets({ seed: 72, count: 20 });
  await store.append(batch(1, bets, 0, 10));
  failing.syncs = true;
  await t.throwsAsync(store.append(batch(1, bets, 10, 20)), { message: /EIO/ });
  t.is(failures.length, 1);
  t.true(failures[0] instanceof StoreFailedError);
  await t.throwsAsync(store.append(batch(1, bets, 10, 20)), { instanceOf: StoreFailedError });
  failing.syncs = false;
  await store.close();
  const again = await openStore(t, dir);
  t.deepEqual(again.status(1), { next: 10, stored: 10, finished: false });
});

test('the hash chain and upload digest are over canonical lines, not over bets.csv: vectors computed apart', async (t) => {
  const dir = await dataDir(t);
  // The clock the vectors were computed at: the bets' group at 21:00:00, the FINISH's a second later.
  let now = Date.parse('2026-12-04T21:00:00.000Z');
  const store = await Store.open({ dataDir: dir, fsync: true, log, now: () => now });
  t.teardown(() => store.close());
  const bets: WireBet[] = [
    ['Santiago Lionel', 'Lorca', '30904465', '1999-03-17', 7574],
    ['María José', "O'Connor", '1', '2000-02-29', 0],
  ];
  // The vectors of test/canonical-bet.test.ts, computed there with sha256sum.
  const digest = '25ee4107ef841882e4ebc122ef5eae28a0df32b1cece928594d3d1c4fffda3a6';
  await store.append(batch(3, bets, 0, 2));
  t.is(store.snapshot().chain, '5727e612b5071f684081ee5b8753d17f53b2173f5f9bbb4774cfed8a2af31ac1');
  now += 1000;
  t.deepEqual(await store.finish(3, 2, digest), { status: 'finished', total: 2, digest });
  t.is(store.snapshot().chain, '7222f868700ffa0da69b47973a61b1a67881942a556ccea2ba6708fbcda83868');
  t.is(await csvOf(dir), "3,Santiago Lionel,Lorca,30904465,1999-03-17,7574\n3,María José,O'Connor,1,2000-02-29,0\n");
});

test('rows whose names bets.csv must quote are recovered, chain and digest, as they were committed', async (t) => {
  const dir = await dataDir(t);
  const bets: WireBet[] = [
    ['Juan, Jr.', 'Paz', '1', '2000-01-01', 5],
    ['Ana', 'Gómez "la Tana"', '2', '2000-01-01', 7574],
    ['Eva', 'Ríos', '3', '2000-01-01', 6],
  ];
  const first = await Store.open({ dataDir: dir, fsync: true, log });
  await first.append(batch(1, bets, 0, 3));
  t.like(await first.finish(1, 3, uploadDigestOf(1, bets)), { status: 'finished' });
  const snapshot = first.snapshot();
  await first.close();
  t.is(await csvOf(dir), rowsText(1, bets));
  t.true((await csvOf(dir)).includes('"Gómez ""la Tana"""'));
  const second = await openStore(t, dir);
  t.deepEqual(second.snapshot(), snapshot);
  t.deepEqual(second.welcome(1), { offset: 3, finished: true, drawn: false, total: 3, digest: uploadDigestOf(1, bets) });
});

test('the draw answers the committed bets, not a live edit of bets.csv; an invented winner in the draw record stops the next start', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const bets: WireBet[] = [
    ['Eva', 'Ríos', '1', '1980-01-01', 7574],
    ['Tom', 'Paz', '2', '1981-01-01', 7575],
  ];
  await store.append(batch(1, bets, 0, 2));
  // Same length, while the server runs: agency 1's losing bet made a winner.
  const csv = await csvOf(dir);
  await writeFile(join(dir, BETS_FILE), csv.replace(',7575\n', ',7574\n'));
  t.deepEqual((await store.draw(1)).winners, { 1: ['1'] });
  await store.close();
  await writeFile(join(dir, BETS_FILE), csv);
  // The draw record's winners changed and its CRC recomputed, as a forger would.
  const lines = (await readFile(join(dir, JOURNAL_FILE), 'utf8')).split('\n');
  const at = lines.findIndex((line) => line.includes('"kind":"draw"'));
  const record = JSON.parse(lines[at].slice(9));
  record.winners['1'] = ['99999999'];
  lines[at] = encodeRecord(record).slice(0, -1);
  await writeFile(join(dir, JOURNAL_FILE), lines.join('\n'));
  const error = await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
  t.regex(error!.message, /the draw\) names winners that are not those of the bets .*agency 1/);
});

test('a start refuses bets.csv rows the journal does not count', async (t) => {
  const dir = await dataDir(t);
  const store = await openStore(t, dir);
  const bets = generateBets({ seed: 5, count: 3 });
  await store.append(batch(1, bets, 0, 3));
  await store.close();
  // The record says 3 stored; make it say 2 with everything else recomputed but the row count.
  const lines = (await readFile(join(dir, JOURNAL_FILE), 'utf8')).split('\n');
  const record = JSON.parse(lines[1].slice(9));
  record.agencies['1'] = { next: 3, stored: 2 };
  const { nextChain, CHAIN_START } = await import('../src/storage/hash-chain.ts');
  const { commitTail } = await import('../src/bets/canonical-bet.ts');
  record.chain = nextChain(CHAIN_START, [encodeCanonicalLines(1, bets)], commitTail(record.agencies, undefined, record.at));
  lines[1] = encodeRecord(record).slice(0, -1);
  await writeFile(join(dir, JOURNAL_FILE), lines.join('\n'));
  const error = await t.throwsAsync(Store.open({ dataDir: dir, fsync: true, log }), { instanceOf: StoreRecoveryError });
  t.regex(error!.message, /holds 3 rows of agency 1 but the journal records 2 stored/);
});
