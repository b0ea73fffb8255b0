import test from 'ava';
import { Backoff } from '../src/timing/backoff.ts';

test('a backoff doubles each delay from the first up to the cap', (t) => {
  const backoff = new Backoff({ firstMs: 100, maxMs: 1000, jitter: false });
  t.deepEqual(
    Array.from({ length: 6 }, () => backoff.next()),
    [100, 200, 400, 800, 1000, 1000],
  );
  t.is(backoff.failures, 6);
});

test('a reset backoff starts again from its first delay', (t) => {
  const backoff = new Backoff({ firstMs: 50, maxMs: 5000, jitter: false });
  backoff.next();
  backoff.next();
  backoff.reset();
  t.is(backoff.failures, 0);
  t.is(backoff.next(), 50);
});

test('with jitter each delay falls in the upper half of the plain one', (t) => {
  const jittered = new Backoff({ firstMs: 100, maxMs: 800, jitter: true });
  const plain = new Backoff({ firstMs: 100, maxMs: 800, jitter: false });
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    if (i % 5 === 0) {
      jittered.reset();
      plain.reset();
    }
    const delay = jittered.next();
    const full = plain.next();
    t.true(delay >= full / 2 && delay <= full, `${delay} within [${full / 2}, ${full}]`);
    seen.add(delay);
  }
  t.true(seen.size > 100, 'the delays are spread, not all the same');
});
