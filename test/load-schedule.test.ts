// The bench's open loop and its quantiles, in memory: when each batch is
// due, and what p50, p99 and p99.9 of the waits are.
import test from 'ava';
import { agencySchedule, dueUpTo, sendSchedule } from '../bench/load-schedule.ts';
import { latencySummary, percentile } from '../bench/stats.ts';

test('a batch is due when its last bet would have arrived at the rate, after the phase', (t) => {
  // 100, 250 and 300 bets at 1,000 bets/s.
  t.deepEqual([...sendSchedule([100, 250, 300], 1000, 0)], [100, 250, 300]);
  t.deepEqual([...sendSchedule([100, 250, 300], 2000, 7)], [57, 132, 157]);
  t.deepEqual([...sendSchedule([], 1000, 5)], []);
});

test('a rate that is not positive is refused', (t) => {
  t.throws(() => sendSchedule([1], 0, 0), { instanceOf: RangeError });
  t.throws(() => sendSchedule([1], Number.NaN, 0), { instanceOf: RangeError });
});

test('agencies share the offered load evenly, their phases spread over one batch interval', (t) => {
  const ends = [200, 400, 600];
  // 4 agencies offering 8,000 bets/s together: 2,000 each, a batch of 200 every 100 ms.
  const schedules = [1, 2, 3, 4].map((agency) => [...agencySchedule(ends, 8000, 4, agency)]);
  t.deepEqual(schedules, [
    [100, 200, 300],
    [125, 225, 325],
    [150, 250, 350],
    [175, 275, 375],
  ]);
});

test('the batches due at a time are those whose time has come, from where the agency stands', (t) => {
  const due = Float64Array.from([10, 20, 20, 30]);
  t.is(dueUpTo(due, 5, 0), 0);
  t.is(dueUpTo(due, 10, 0), 1);
  t.is(dueUpTo(due, 20, 1), 3);
  t.is(dueUpTo(due, 29.9, 3), 3);
  t.is(dueUpTo(due, 1000, 3), 4);
  t.is(dueUpTo(due, 1000, 4), 4);
});

test('percentiles are by nearest rank', (t) => {
  const sorted = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
  t.is(percentile(sorted, 0.5), 500);
  t.is(percentile(sorted, 0.99), 990);
  t.is(percentile(sorted, 0.999), 999);
  t.is(percentile(sorted, 1), 1000);
  t.is(percentile([7], 0.999), 7);
  t.is(percentile([], 0.5), 0);
});

test('the latency summary is over every agency together, the slow one counted', (t) => {
  // 999 fast waits from one agency and one slow wait from another: p99.9 is the 999th of 1,000.
  const fast = Float64Array.from({ length: 999 }, (_, i) => (i % 10) + 1);
  const slow = Float64Array.from([500]);
  t.deepEqual(latencySummary([fast, slow]), { p50: 5, p99: 10, p999: 10, max: 500 });
  // With two slow waits in 1,000 the p99.9 is one of them.
  t.deepEqual(latencySummary([fast.subarray(1), Float64Array.from([400, 500])]), { p50: 6, p99: 10, p999: 400, max: 500 });
  t.deepEqual(latencySummary([]), { p50: 0, p99: 0, p999: 0, max: 0 });
});
