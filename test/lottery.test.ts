import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { pino } from 'pino';
import { Lottery, type LotteryStore, type WinnersOutcome } from '../src/actors/lottery.ts';
import { Store } from '../src/actors/store.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { EMPTY_UPLOAD_DIGEST, uploadDigestOf } from '../src/bets/upload-digest.ts';
import { createLogger } from '../src/log/logger.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { ErrorCode } from '../src/errors.ts';

const log = createLogger({ level: 'silent', format: 'text' });
const AGENCIES = 3;

/** Agency k's 60 bets; agency 3 has no winners: its answer is an empty list, not someone else's. */
function agencyBetsOf(agency: number) {
  const winnerRows = agency === 3 ? [] : Array.from({ length: agency * 2 }, (_, i) => i * 11 + agency);
  return { winnerRows, bets: generateBets({ seed: 700 + agency, count: 60, winnerRows }) };
}

/** The upload digest of agency k's 60 bets, all stored; of nothing for an agency beyond those that sent. */
const digestOf = (agency: number) => (agency <= AGENCIES ? uploadDigestOf(agency, agencyBetsOf(agency).bets) : EMPTY_UPLOAD_DIGEST);

type Fixture = { store: Store; counted: LotteryStore; draws: () => number; bets: WireBet[][]; winners: string[][] };

/** A real Store in a temp dir holding each agency's bets, and a view of it that counts draws. */
async function fixture(t: ExecutionContext, dir?: string): Promise<Fixture> {
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), 'lottery-lottery-')));
  if (dir === undefined) t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const store = await Store.open({ dataDir, fsync: true, log });
  t.teardown(() => store.close());
  const bets: WireBet[][] = [];
  const winners: string[][] = [];
  for (let agency = 1; agency <= AGENCIES; agency++) {
    const { winnerRows, bets: agencyBets } = agencyBetsOf(agency);
    bets.push(agencyBets);
    winners.push(winnerRows.map((row) => agencyBets[row][2]));
    if (store.status(agency).next === 0) {
      await store.append({ agency, offset: 0, count: agencyBets.length, rows: encodeCanonicalLines(agency, agencyBets) });
    }
  }
  let draws = 0;
  const counted: LotteryStore = {
    finishCounted: (agency, total, digest) => store.finishCounted(agency, total, digest),
    closeSales: (agencies) => store.closeSales(agencies),
    ledger: store.ledger,
    draw: (agencies) => {
      draws++;
      return store.draw(agencies);
    },
  };
  return { store, counted, draws: () => draws, bets, winners };
}

const lotteryOf = (f: Fixture) => new Lottery({ agencies: AGENCIES, store: f.counted, log });

/** Tracks a promise so a test can see whether it has settled yet. */
function track<T>(promise: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let settled = false;
  void promise.finally(() => (settled = true));
  return { settled: () => settled, promise };
}

/** Lets every pending callback run: ordering, not timing. */
async function drain(): Promise<void> {
  for (let i = 0; i < 5; i++) await turn();
}

test("WINNERS before the draw waits and is answered after the last agency's FINISH", async (t) => {
  const f = await fixture(t);
  const lottery = lotteryOf(f);
  const asked = track(lottery.winners(1));
  await drain();
  t.false(asked.settled());
  t.deepEqual(await lottery.finish(1, 60, digestOf(1)), { status: 'finished', total: 60, digest: digestOf(1) });
  t.deepEqual(await lottery.finish(2, 60, digestOf(2)), { status: 'finished', total: 60, digest: digestOf(2) });
  await drain();
  t.false(asked.settled(), 'answered before every agency finished');
  t.false(lottery.drawn);
  t.is(f.draws(), 0);
  await lottery.finish(3, 60, digestOf(3));
  t.true(lottery.drawn);
  t.deepEqual(await asked.promise, { status: 'drawn', documents: f.winners[0] });
});

test('a FINISH the store refuses does not count towards the draw', async (t) => {
  const f = await fixture(t);
  const lottery = lotteryOf(f);
  await lottery.finish(1, 60, digestOf(1));
  await lottery.finish(2, 60, digestOf(2));
  t.like(await lottery.finish(3, 59, digestOf(3)), { status: 'rejected', code: ErrorCode.TOTAL_MISMATCH });
  t.false(lottery.drawn);
  t.is(f.draws(), 0);
  await lottery.finish(3, 60, digestOf(3));
  t.true(lottery.drawn);
});

test('each agency gets only its own documents', async (t) => {
  const f = await fixture(t);
  const lottery = lotteryOf(f);
  const before = [1, 2, 3].map((agency) => lottery.winners(agency));
  for (let agency = 1; agency <= AGENCIES; agency++) await lottery.finish(agency, 60, digestOf(agency));
  const after = [1, 2, 3].map((agency) => lottery.winners(agency));
  for (const answers of [await Promise.all(before), await Promise.all(after)]) {
    t.deepEqual(answers, [
      { status: 'drawn', documents: f.winners[0] },
      { status: 'drawn', documents: f.winners[1] },
      { status: 'drawn', documents: [] },
    ]);
  }
  t.is(f.winners[0].length, 2);
  t.is(f.winners[1].length, 4);
});

test('the draw runs once even with FINISHes interleaved and repeated', async (t) => {
  const f = await fixture(t);
  const lottery = lotteryOf(f);
  const waiting = [1, 2, 3, 1, 2, 3].map((agency) => lottery.winners(agency));
  const outcomes = await Promise.all([3, 1, 2, 3, 1, 2, 2].map((agency) => lottery.finish(agency, 60, digestOf(agency))));
  t.true(outcomes.every((outcome) => outcome.status === 'finished'));
  await Promise.all([lottery.finish(1, 60, digestOf(1)), lottery.resume(), lottery.resume()]);
  t.is(f.draws(), 1);
  const answers = await Promise.all(waiting);
  t.deepEqual(
    answers.map((answer) => (answer.status === 'drawn' ? answer.documents : answer.code)),
    [f.winners[0], f.winners[1], [], f.winners[0], f.winners[1], []],
  );
});

test('stop() answers held WINNERS with SERVER_STOPPING', async (t) => {
  const f = await fixture(t);
  const lottery = lotteryOf(f);
  await lottery.finish(1, 60, digestOf(1));
  const held = [lottery.winners(1), lottery.winners(2)];
  lottery.stop();
  const answers: WinnersOutcome[] = await Promise.all(held);
  for (const answer of answers) t.like(answer, { status: 'rejected', code: ErrorCode.SERVER_STOPPING });
  // Asked while stopping, before the draw: the same answer, not a wait.
  t.like(await lottery.winners(3), { status: 'rejected', code: ErrorCode.SERVER_STOPPING });
  t.is(f.draws(), 0);
});

test('a held WINNERS that is withdrawn is dropped at once; the others still get the draw', async (t) => {
  const f = await fixture(t);
  const lottery = lotteryOf(f);
  const dropped = Array.from({ length: 1000 }, (_, i) => lottery.winners(1, `gone-${i}`));
  const kept = lottery.winners(2, 'kept');
  t.is(lottery.held, 1001);
  for (let i = 0; i < 1000; i++) lottery.withdraw(`gone-${i}`);
  t.is(lottery.held, 1, 'the waiting list does not grow with dropped connections');
  for (const answer of await Promise.all(dropped)) t.like(answer, { status: 'rejected' });
  lottery.withdraw('never-asked');
  for (let agency = 1; agency <= AGENCIES; agency++) await lottery.finish(agency, 60, digestOf(agency));
  t.deepEqual(await kept, { status: 'drawn', documents: f.winners[1] });
  t.is(lottery.held, 0);
});

test('after the draw, WINNERS is answered even while stopping', async (t) => {
  const f = await fixture(t);
  const lottery = lotteryOf(f);
  for (let agency = 1; agency <= AGENCIES; agency++) await lottery.finish(agency, 60, digestOf(agency));
  lottery.stop();
  t.deepEqual(await lottery.winners(2), { status: 'drawn', documents: f.winners[1] });
});

test('a lottery over a Store where all agencies finished but no draw is recorded draws on resume()', async (t) => {
  const f = await fixture(t);
  for (let agency = 1; agency <= AGENCIES; agency++) await f.store.finish(agency, 60, digestOf(agency));
  t.is(f.store.snapshot().winners, null);
  const lottery = lotteryOf(f);
  t.false(lottery.drawn);
  const asked = track(lottery.winners(2));
  await lottery.resume();
  t.true(lottery.drawn);
  t.is(f.draws(), 1);
  t.deepEqual(await asked.promise, { status: 'drawn', documents: f.winners[1] });
  t.deepEqual(await lottery.winners(1), { status: 'drawn', documents: f.winners[0] });
});

test('resume() does not draw while an agency has not finished', async (t) => {
  const f = await fixture(t);
  await f.store.finish(1, 60, digestOf(1));
  await f.store.finish(2, 60, digestOf(2));
  const lottery = lotteryOf(f);
  await lottery.resume();
  t.false(lottery.drawn);
  t.is(f.draws(), 0);
  await lottery.finish(3, 60, digestOf(3));
  t.is(f.draws(), 1);
});

test('finishes of agencies beyond N do not count towards the draw', async (t) => {
  const f = await fixture(t);
  await f.store.finish(1, 60, digestOf(1));
  await f.store.finish(2, 60, digestOf(2));
  await f.store.finish(7, 0, digestOf(7));
  const lottery = lotteryOf(f);
  await lottery.resume();
  t.false(lottery.drawn);
  t.is(f.draws(), 0);
});

test('a lottery over a Store with a recorded draw answers at once and never draws again', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-lottery-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const first = await fixture(t, dir);
  const lottery = lotteryOf(first);
  for (let agency = 1; agency <= AGENCIES; agency++) await lottery.finish(agency, 60, digestOf(agency));
  await first.store.close();

  const second = await fixture(t, dir);
  const restarted = lotteryOf(second);
  t.true(restarted.drawn);
  await restarted.resume();
  t.is(second.draws(), 0);
  t.deepEqual(await restarted.winners(1), { status: 'drawn', documents: first.winners[0] });
});

test('a draw that fails is logged as sorteo fail and tried again until it succeeds; held WINNERS are then answered', async (t) => {
  const f = await fixture(t);
  const lines: string[] = [];
  const capturing = pino({ base: null }, { write: (line: string) => void lines.push(line) });
  let failuresLeft = 2;
  const flaky: LotteryStore = {
    ...f.counted,
    draw: (agencies) => (failuresLeft-- > 0 ? Promise.reject(new Error('EIO: i/o error, read')) : f.counted.draw(agencies)),
  };
  const lottery = new Lottery({ agencies: AGENCIES, store: flaky, log: capturing });
  t.teardown(() => lottery.stop());
  const asked = lottery.winners(1);
  for (let agency = 1; agency <= AGENCIES; agency++) await lottery.finish(agency, 60, digestOf(agency));
  t.false(lottery.drawn, 'the first try failed');
  // A WINNERS asks for a new try at once; the backoff would bring it anyway.
  void lottery.winners(2);
  t.deepEqual(await asked, { status: 'drawn', documents: f.winners[0] });
  const draws = lines
    .map((line) => JSON.parse(line) as { action: string; result: string; error?: string; digest?: string })
    .filter((line) => line.action === 'sorteo');
  t.deepEqual(
    draws.map((line) => line.result),
    ['fail', 'fail', 'success'],
  );
  t.regex(draws[0].error ?? '', /EIO/);
  // The success line publishes the hash chain of the bets it was drawn from.
  t.is(draws[2].digest, f.store.snapshot().chain);
});

test('each agency that finishes is logged once, counted in the order its FINISH was decided, even when they share a group commit', async (t) => {
  const f = await fixture(t);
  const lines: string[] = [];
  const capturing = pino({ base: null }, { write: (line: string) => void lines.push(line) });
  const lottery = new Lottery({ agencies: AGENCIES, store: f.counted, log: capturing });
  t.teardown(() => lottery.stop());
  // Agencies 3 and 1 together, in that order; then 1 again, and 2.
  await Promise.all([lottery.finish(3, 60, digestOf(3)), lottery.finish(1, 60, digestOf(1))]);
  t.like(await lottery.finish(1, 60, digestOf(1)), { status: 'finished' });
  t.deepEqual(lottery.progress(), { finished: 2, agencies: AGENCIES });
  await lottery.finish(2, 60, digestOf(2));
  const finished = lines
    .map((line) => JSON.parse(line) as { action: string; agencia?: number; finalizadas?: number })
    .filter((line) => line.action === 'agencia_finalizada')
    .map(({ agencia, finalizadas }) => [agencia, finalizadas]);
  t.deepEqual(finished, [
    [3, 1],
    [1, 2],
    [2, 3],
  ]);
  t.is(f.draws(), 1);
});
