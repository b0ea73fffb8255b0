import test from 'ava';
import { expose } from 'comlink';
import { MessageChannel } from 'node:worker_threads';
import { ActorGoneError, wrapPort } from '../src/actors/port-remote.ts';

type Actor = { answer(n: number): Promise<number>; never(): Promise<never> };

function actorBehind() {
  const { port1, port2 } = new MessageChannel();
  const actor: Actor = { answer: async (n) => n * 2, never: () => new Promise(() => undefined) };
  expose(actor, port2);
  return { remote: wrapPort<Actor>(port1, 'test actor'), port1, port2 };
}

test('calls are answered as comlink answers them while the other side lives', async (t) => {
  const { remote, port1, port2 } = actorBehind();
  t.is(await remote.answer(21), 42);
  port1.close();
  port2.close();
});

test('a pending call rejects when the other side closes, and later calls reject at once', async (t) => {
  const { remote, port2 } = actorBehind();
  const pending = remote.never();
  t.is(await remote.answer(1), 2);
  port2.close();
  const error = await t.throwsAsync(pending, { instanceOf: ActorGoneError });
  t.regex(error!.message, /the test actor is gone/);
  await t.throwsAsync(remote.answer(2), { instanceOf: ActorGoneError });
});
