// The generations a group of HELLOs takes in one transaction on the
// PostgreSQL store: each agency's HELLOs take its newest generations in the
// order they came, so the latest connection holds the newest.
import test from 'ava';
import fc from 'fast-check';
import { connectionsPerAgency, generationsInOrder } from '../src/storage/postgres/generations.ts';

test('HELLOs of several agencies, some twice, take consecutive generations up to the newest of each agency, in order', (t) => {
  const agencies = [3, 1, 3, 2, 3];
  t.deepEqual(
    [...connectionsPerAgency(agencies)],
    [
      [3, 3],
      [1, 1],
      [2, 1],
    ],
  );
  const latest = new Map([
    [1, 1],
    [2, 7],
    [3, 12],
  ]);
  t.deepEqual(generationsInOrder(agencies, latest), [10, 1, 11, 7, 12]);
});

test('a generation the database did not answer, or too small for the HELLOs, is refused', (t) => {
  t.throws(() => generationsInOrder([1, 2], new Map([[1, 1]])), { message: /agency 2's generation as undefined, for 1 HELLOs/ });
  t.throws(() => generationsInOrder([4, 4], new Map([[4, 1]])), { message: /agency 4's generation as 1, for 2 HELLOs/ });
});

test('any group: generations in order equal HELLOs taken one at a time, each adding one to its agency', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 40 }),
      fc.array(fc.nat({ max: 5 }), { minLength: 6, maxLength: 6 }),
      (agencies, before) => {
        // One at a time, as each HELLO was its own transaction.
        const current = new Map(before.map((generation, i) => [i + 1, generation]));
        const oneAtATime = agencies.map((agency) => {
          const next = current.get(agency)! + 1;
          current.set(agency, next);
          return next;
        });
        // All at once: the database adds each agency's count and answers the sum.
        const latest = new Map([...connectionsPerAgency(agencies)].map(([agency, count]) => [agency, before[agency - 1]! + count]));
        t.deepEqual(generationsInOrder(agencies, latest), oneAtATime);
      },
    ),
  );
});
