// The handshake gate against its definition, over random sequences of
// arrivals, ends and give-ups from a few addresses: never more turns than
// its capacity, never more than a quarter to one address, no connection
// left waiting while it could run, first come first served within an
// address, and a give-up neither takes a turn nor leaks one.
import test from 'ava';
import fc from 'fast-check';
import { HandshakeGate, HandshakeOutcome, SUSPECT_MS, type Release } from '../src/transport/handshake-gate.ts';
import { GateClosed } from '../src/errors.ts';

const settle = () => new Promise((resolve) => setImmediate(resolve));

type Entry = { address: string; order: number; release?: Release; gaveUp: boolean; abort: AbortController; rejected?: unknown };

const operation = fc.oneof(
  fc.record({ kind: fc.constant('arrive' as const), address: fc.constantFrom('a', 'b', 'c', 'd', 'e') }),
  fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('give-up' as const), pick: fc.nat() }),
);

test('the gate keeps its bounds, leaves no one waiting who could run, and serves each address in order', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 9 }), fc.array(operation, { maxLength: 120 }), async (capacity, operations) => {
      const gate = new HandshakeGate(capacity);
      const entries: Entry[] = [];
      const started: Entry[] = [];
      for (const op of operations) {
        if (op.kind === 'arrive') {
          const entry: Entry = { address: op.address, order: entries.length, gaveUp: false, abort: new AbortController() };
          entries.push(entry);
          gate.enter(entry.address, entry.abort.signal).then(
            (release) => {
              entry.release = release;
              started.push(entry);
            },
            (error) => (entry.rejected = error),
          );
        } else {
          const running = entries.filter((entry) => entry.release !== undefined && !entry.gaveUp);
          const waiting = entries.filter((entry) => entry.release === undefined && !entry.gaveUp);
          if (op.kind === 'finish' && running.length > 0) {
            const entry = running[op.pick % running.length];
            entry.gaveUp = true;
            entry.release!();
            entry.release!(); // twice: the second does nothing
          }
          if (op.kind === 'give-up' && waiting.length > 0) {
            const entry = waiting[op.pick % waiting.length];
            entry.gaveUp = true;
            entry.abort.abort();
          }
        }
        await settle();

        const running = entries.filter((entry) => entry.release !== undefined && !entry.gaveUp);
        const waiting = entries.filter((entry) => entry.release === undefined && !entry.gaveUp);
        const runningFor = (address: string) => running.filter((entry) => entry.address === address).length;
        if (running.length > capacity) return false;
        if (gate.running !== running.length || gate.waiting !== waiting.length) return false;
        for (const address of new Set(entries.map((entry) => entry.address))) if (runningFor(address) > gate.perAddress) return false;
        // Work-conserving: whoever waits does so because the gate or its address is full.
        for (const entry of waiting) if (running.length < capacity && runningFor(entry.address) < gate.perAddress) return false;
      }
      // A give-up never took a turn, and was told why.
      for (const entry of entries) if (entry.abort.signal.aborted && !(entry.rejected instanceof GateClosed)) return false;
      // Within an address, turns went in order of arrival.
      for (const address of new Set(entries.map((entry) => entry.address))) {
        const orders = started.filter((entry) => entry.address === address).map((entry) => entry.order);
        if (orders.some((order, i) => i > 0 && order < orders[i - 1])) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('a flood from one address gets a quarter of the turns, and waiting addresses are served in rotation', async (t) => {
  const gate = new HandshakeGate(8);
  t.is(gate.perAddress, 2);
  const never = new AbortController().signal;
  const flood = Array.from({ length: 100 }, () => gate.enter('flood', never));
  await settle();
  t.is(gate.running, 2);
  t.is(gate.waiting, 98);
  const others = ['b', 'c', 'd'].map((address) => [gate.enter(address, never), gate.enter(address, never)]);
  await settle();
  t.is(gate.running, 8, 'the turns the flood may not have go to the others');
  await Promise.all([...flood.slice(0, 2), ...others.flat()]);

  // Four turns, one each: x and y wait, three connections each, behind a full gate.
  const small = new HandshakeGate(4);
  const first = await Promise.all(['p', 'q', 'r', 's'].map((address) => small.enter(address, never)));
  const served: string[] = [];
  for (const address of ['x', 'x', 'x', 'y', 'y', 'y']) void small.enter(address, never).then(() => served.push(address));
  first[0]();
  first[1]();
  await settle();
  t.deepEqual(served, ['x', 'y'], 'x, then y: not x again, though x queued first');
  first[2]();
  await settle();
  t.deepEqual(served, ['x', 'y'], 'a free turn stays free while every waiting address has its share');
  t.is(small.running, 3);
});

test('a gate needs a turn, and one that stops before its turn rejects at once', async (t) => {
  t.throws(() => new HandshakeGate(0), { instanceOf: RangeError });
  const stopped = AbortSignal.abort();
  await t.throwsAsync(new HandshakeGate(1).enter('a', stopped), { instanceOf: GateClosed });
});

test('addresses whose handshakes failed wait behind a clean address, until one of theirs completes or their time is up', async (t) => {
  let now = 0;
  const gate = new HandshakeGate(4, () => now);
  const never = new AbortController().signal;
  // Sixty-four addresses have each had a handshake run out of time, and come back.
  const stallers = Array.from({ length: 64 }, (_, i) => `10.0.0.${i}`);
  for (const address of stallers) (await gate.enter(address, never))(HandshakeOutcome.FAILED);
  const turns = await Promise.all(stallers.slice(0, 4).map((address) => gate.enter(address, never)));
  const served: string[] = [];
  for (const address of stallers.slice(4)) void gate.enter(address, never).then(() => served.push(address));
  // The agency arrives last, behind sixty waiting addresses.
  const agency = gate.enter('192.0.2.1', never).then((release) => {
    served.push('192.0.2.1');
    return release;
  });
  turns[0](HandshakeOutcome.FAILED);
  await settle();
  t.deepEqual(served, ['192.0.2.1'], 'the clean address takes the next turn');
  turns[1](HandshakeOutcome.FAILED);
  await settle();
  t.deepEqual(served, ['192.0.2.1', '10.0.0.4'], 'then rotation goes on among the suspect ones');

  await agency;
});

test('a suspect address whose time is up is one address among the others again', async (t) => {
  let now = 0;
  const gate = new HandshakeGate(1, () => now);
  const never = new AbortController().signal;
  (await gate.enter('a', never))(HandshakeOutcome.FAILED);
  const holder = await gate.enter('c', never);
  const order: string[] = [];
  const fromA = gate.enter('a', never).then((release) => (order.push('a'), release));
  const fromB = gate.enter('b', never).then((release) => (order.push('b'), release));
  now += SUSPECT_MS;
  holder();
  (await fromA)();
  (await fromB)();
  t.deepEqual(order, ['a', 'b'], 'a queued first and is no longer suspect');
});

test('a completed handshake clears its address, and a suspect address alone is still served', async (t) => {
  const gate = new HandshakeGate(1, () => 0);
  const never = new AbortController().signal;
  (await gate.enter('a', never))(HandshakeOutcome.FAILED);
  const first = await gate.enter('a', never);
  const order: string[] = [];
  const fromA = gate.enter('a', never).then((release) => (order.push('a'), release));
  first(HandshakeOutcome.FAILED);
  const again = await fromA;
  t.deepEqual(order, ['a'], 'alone, the suspect address is served');
  const fromB = gate.enter('b', never).then((release) => (order.push('b'), release));
  const fromA2 = gate.enter('a', never).then((release) => (order.push('a'), release));
  // a completes: no longer suspect, and rotation order decides (b queued first).
  again(HandshakeOutcome.COMPLETED);
  (await fromB)();
  (await fromA2)();
  t.deepEqual(order, ['a', 'b', 'a']);
});
