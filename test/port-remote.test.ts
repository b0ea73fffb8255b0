import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { MessageChannel } from 'node:worker_threads';
import { exposeOnPort, wrapPort } from '../src/actors/port-remote.ts';
import { ActorGoneError } from '../src/errors.ts';

type Actor = { answer(n: number): Promise<number>; never(): Promise<never> };

function actorBehind() {
  const { port1, port2 } = new MessageChannel();
  const actor: Actor = { answer: async (n) => n * 2, never: () => new Promise(() => undefined) };
  exposeOnPort(actor, port2);
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

test("a call and its answer load no part of Node's fetch stack into the thread", async (t) => {
  // A web MessageEvent would: its class lives in Node's bundled undici. A
  // fresh process, so that nothing else this test file loaded can hide it.
  const script = `
    import { MessageChannel } from 'node:worker_threads';
    import { exposeOnPort, wrapPort } from ${JSON.stringify(new URL('../src/actors/port-remote.ts', import.meta.url).href)};
    const { port1, port2 } = new MessageChannel();
    exposeOnPort({ answer: async (n) => n * 2 }, port2);
    const answer = await wrapPort(port1, 'test actor').answer(21);
    const undici = process.moduleLoadList.filter((name) => name.includes('undici'));
    console.log(JSON.stringify({ answer, undici }));
    process.exit(0);
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  t.deepEqual(JSON.parse(stdout), { answer: 42, undici: [] });
});
