import test from 'ava';
import {
  AGENCY_PHASES,
  BetRate,
  DETAIL_LIMIT,
  RATE_WINDOW_MS,
  WAITING_LIMIT,
  lotteryStatus,
  phaseOf,
  type StatusInput,
} from '../src/ledger/lottery-status.ts';

const input = (overrides: Partial<StatusInput> = {}): StatusInput => ({
  agencies: 4,
  states: new Map([
    [1, { stored: 10, finished: true }],
    [2, { stored: 5, finished: false }],
    [3, { stored: 7, finished: false }],
  ]),
  connected: new Set([1, 2]),
  bets: 22,
  betsPerSecond: 0,
  winners: null,
  drawDigest: null,
  ...overrides,
});

test('an agency is finished once its FINISH is recorded, uploading while connected, else absent', (t) => {
  t.is(phaseOf(true, false), 'finished');
  t.is(phaseOf(true, true), 'finished');
  t.is(phaseOf(false, true), 'uploading');
  t.is(phaseOf(false, false), 'absent');
});

test('the counts by state sum to the agencies, and the ids not finished say who the draw waits for', (t) => {
  const status = lotteryStatus(input());
  t.deepEqual(status.counts, { absent: 2, uploading: 1, finished: 1, closed: 0 });
  t.is(
    AGENCY_PHASES.reduce((sum, phase) => sum + status.counts[phase], 0),
    4,
  );
  t.deepEqual(status.waiting, { absent: [3, 4], uploading: [2], more: 0 });
  t.is(status.waitingFor, 'Waiting for 3 of 4 agencies: agency 2 still uploading; agencies 3, 4 not connected.');
  t.deepEqual(status.detail, [
    { agency: 1, state: 'finished', stored: 10, finished: true },
    { agency: 2, state: 'uploading', stored: 5, finished: false },
    { agency: 3, state: 'absent', stored: 7, finished: false },
    { agency: 4, state: 'absent', stored: 0, finished: false },
  ]);
  t.true(status.detailComplete);
  t.deepEqual(status.draw, { state: 'waiting' });
});

test("once drawn, the status carries the digest and each agency's winner count, never a document", (t) => {
  const states = new Map([1, 2, 3, 4].map((agency) => [agency, { stored: agency, finished: true }]));
  const status = lotteryStatus(input({ states, winners: { 1: ['30111222'], 2: [], 3: ['1', '2'], 4: [] }, drawDigest: 'ab'.repeat(32) }));
  t.deepEqual(status.draw, { state: 'drawn', digest: 'ab'.repeat(32), winners: 3 });
  t.deepEqual(
    status.detail.map(({ winners }) => winners),
    [1, 0, 2, 0],
  );
  t.is(status.waitingFor, 'Nobody: the draw is done.');
  t.false(JSON.stringify(status).includes('30111222'));
});

test('the sentence counts the agencies of the lottery, one or many', (t) => {
  const one = lotteryStatus(input({ agencies: 2, states: new Map([[1, { stored: 10, finished: true }]]), connected: new Set([1]) }));
  t.is(one.waitingFor, 'Waiting for 1 of 2 agencies: agency 2 not connected.');
  const alone = lotteryStatus(input({ agencies: 1, states: new Map(), connected: new Set() }));
  t.is(alone.waitingFor, 'Waiting for 1 of 1 agency: agency 1 not connected.');
});

test('every agency finished and the draw not made yet: nobody is waited for', (t) => {
  const states = new Map([1, 2, 3, 4].map((agency) => [agency, { stored: 1, finished: true }]));
  t.is(lotteryStatus(input({ states })).waitingFor, 'Nobody: every agency has finished; the draw is under way.');
});

test('with many agencies the status stays small: detail for the first ids only, the ids not finished bounded, the counts whole', (t) => {
  const agencies = WAITING_LIMIT + 500;
  const status = lotteryStatus(input({ agencies, states: new Map(), connected: new Set() }));
  t.is(status.counts.absent, agencies);
  t.is(status.detail.length, DETAIL_LIMIT);
  t.false(status.detailComplete);
  t.is(status.waiting.absent.length, WAITING_LIMIT);
  t.is(status.waiting.more, 500);
  t.true(status.waitingFor.endsWith(', and 500 more.'));
  t.true(status.waitingFor.startsWith(`Waiting for ${agencies} of ${agencies} agencies: agencies 1, 2, 3`));
  t.true(JSON.stringify(status).length < 150_000);
});

test('bets per second are the rise over the last few seconds of samples', (t) => {
  const rate = new BetRate();
  t.is(rate.sample(0, 0), 0);
  t.is(rate.sample(1000, 100), 100);
  t.is(rate.sample(2000, 300), 150);
  // Past the window, the old samples no longer count.
  for (let at = 3000; at <= 3000 + RATE_WINDOW_MS; at += 1000) rate.sample(at, 300);
  t.is(rate.sample(4000 + RATE_WINDOW_MS, 800), 100);
});

test('once sales close, an agency that had not finished is closed, not waited for, and the answer says the draw is under way', (t) => {
  t.is(phaseOf(false, true, true), 'closed');
  t.is(phaseOf(false, false, true), 'closed');
  t.is(phaseOf(true, false, true), 'finished');
  const status = lotteryStatus(input({ closedAt: '2026-12-24T21:00:00.000Z' }));
  t.deepEqual(status.counts, { absent: 0, uploading: 0, finished: 1, closed: 3 });
  t.deepEqual(status.waiting, { absent: [], uploading: [], more: 0 });
  t.deepEqual(
    status.detail.map(({ agency, state }) => [agency, state]),
    [
      [1, 'finished'],
      [2, 'closed'],
      [3, 'closed'],
      [4, 'closed'],
    ],
  );
  t.is(status.closedAt, '2026-12-24T21:00:00.000Z');
  t.is(status.waitingFor, 'Nobody: sales closed at 2026-12-24T21:00:00.000Z; the draw is under way.');
});
