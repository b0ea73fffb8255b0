import test from 'ava';
import { expose, wrap } from 'comlink';
import { MessageChannel } from 'node:worker_threads';
import { actorFace } from '../src/actors/actor-face.ts';
import { STORE_API } from '../src/actors/store-api.ts';
import { LOTTERY_API } from '../src/actors/lottery-api.ts';

class Counter {
  count = 0;
  closed = false;
  add(amount: number): number {
    this.count += amount;
    return this.count;
  }
  close(): void {
    this.closed = true;
  }
}

test('across a port, an actor face answers the methods it names, bound to the actor', async (t) => {
  const counter = new Counter();
  const { port1, port2 } = new MessageChannel();
  t.teardown(() => port1.close());
  expose(actorFace(counter, ['add']), port2);
  const remote = wrap<Counter>(port1 as never);
  t.is(await remote.add(2), 2);
  t.is(await remote.add(3), 5);
  t.is(counter.count, 5);
});

test('across a port, a method the face does not name is not reachable, and the actor is untouched', async (t) => {
  const counter = new Counter();
  const { port1, port2 } = new MessageChannel();
  t.teardown(() => port1.close());
  expose(actorFace(counter, ['add']), port2);
  // The caller's type says close() exists, as it would for a thread holding the wrong type.
  const remote = wrap<Counter>(port1 as never);
  await t.throwsAsync(remote.close());
  t.false(counter.closed);
  // Nor is the actor's state: reading a field through the face finds nothing.
  counter.add(4);
  t.is(await (remote.count as unknown as Promise<unknown>), undefined);
});

test('a face is frozen and holds only the named methods', (t) => {
  const face = actorFace(new Counter(), ['add']);
  t.deepEqual(Object.keys(face), ['add']);
  t.true(Object.isFrozen(face));
});

test('a face refuses a name that is not a method of the actor', (t) => {
  t.throws(() => actorFace(new Counter(), ['count']), { instanceOf: TypeError, message: /count is not a method/ });
});

test('neither the Store nor the Lottery exposes close or stop', (t) => {
  for (const api of [STORE_API, LOTTERY_API] as readonly (readonly string[])[]) {
    t.false(api.includes('close'));
    t.false(api.includes('stop'));
  }
});
