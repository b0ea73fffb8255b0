import test from 'ava';
import { setImmediate as turn } from 'node:timers/promises';
import { Mailbox } from '../src/actors/mailbox.ts';
import { seededRandom } from '../src/bets/bet-generator.ts';

/** Awaits a seeded number of event-loop turns: handlers that yield at varied points. */
async function yieldSome(random: () => number): Promise<void> {
  const turns = Math.floor(random() * 4);
  for (let i = 0; i < turns; i++) await turn();
}

test('work runs one item at a time, in order, even when handlers await', async (t) => {
  const mailbox = new Mailbox();
  const random = seededRandom(42);
  const events: string[] = [];
  let running = 0;
  let most = 0;
  const results = Array.from({ length: 30 }, (_, i) =>
    mailbox.post(async () => {
      running++;
      most = Math.max(most, running);
      events.push(`start ${i}`);
      await yieldSome(random);
      events.push(`end ${i}`);
      running--;
      return i * 2;
    }),
  );
  t.deepEqual(
    await Promise.all(results),
    Array.from({ length: 30 }, (_, i) => i * 2),
  );
  t.is(most, 1);
  t.deepEqual(events, Array.from({ length: 30 }, (_, i) => [`start ${i}`, `end ${i}`]).flat());
});

test('synchronous and asynchronous work interleave in posting order', async (t) => {
  const mailbox = new Mailbox();
  const order: number[] = [];
  await Promise.all([
    mailbox.post(async () => {
      await turn();
      order.push(1);
    }),
    mailbox.post(() => order.push(2)),
    mailbox.post(async () => {
      await turn();
      await turn();
      order.push(3);
    }),
    mailbox.post(() => order.push(4)),
  ]);
  t.deepEqual(order, [1, 2, 3, 4]);
});

test('work posted from inside a handler runs after the work already waiting', async (t) => {
  const mailbox = new Mailbox();
  const order: string[] = [];
  let inner: Promise<void> | undefined;
  const outer = mailbox.post(async () => {
    order.push('outer');
    inner = mailbox.post(() => {
      order.push('inner');
    });
    await turn();
  });
  const next = mailbox.post(() => {
    order.push('next');
  });
  await Promise.all([outer, next]);
  await inner;
  t.deepEqual(order, ['outer', 'next', 'inner']);
});

test('a failing handler rejects its own post and does not stop the ones after it', async (t) => {
  const mailbox = new Mailbox();
  const ran: number[] = [];
  const first = mailbox.post(() => ran.push(1));
  const failing = mailbox.post(async () => {
    await turn();
    throw new Error('handler failed');
  });
  const throwingSync = mailbox.post(() => {
    throw new TypeError('sync failure');
  });
  const after = mailbox.post(async () => {
    await turn();
    ran.push(4);
    return 'after';
  });
  await first;
  await t.throwsAsync(failing, { message: 'handler failed' });
  await t.throwsAsync(throwingSync, { instanceOf: TypeError });
  t.is(await after, 'after');
  t.deepEqual(ran, [1, 4]);
  // And the mailbox keeps working.
  t.is(await mailbox.post(() => 5), 5);
});

test('idle() resolves after all posted work, failed work included', async (t) => {
  const mailbox = new Mailbox();
  const random = seededRandom(7);
  const done: number[] = [];
  for (let i = 0; i < 10; i++) {
    const work = mailbox.post(async () => {
      await yieldSome(random);
      if (i === 4) throw new Error('fails');
      done.push(i);
    });
    work.catch(() => undefined);
  }
  await mailbox.idle();
  t.deepEqual(done, [0, 1, 2, 3, 5, 6, 7, 8, 9]);
});

test('idle() on a fresh mailbox resolves', async (t) => {
  const mailbox = new Mailbox();
  await t.notThrowsAsync(mailbox.idle());
});

test('idle() does not wait for work posted after it was called', async (t) => {
  const mailbox = new Mailbox();
  const order: string[] = [];
  void mailbox.post(() => order.push('before'));
  const idle = mailbox.idle().then(() => order.push('idle'));
  let release!: () => void;
  const later = mailbox.post(() => new Promise<void>((resolve) => (release = resolve)).then(() => order.push('later')));
  await idle;
  t.deepEqual(order, ['before', 'idle']);
  // The later work is still waiting on its release, which only happens now.
  await turn();
  release();
  await later;
  t.deepEqual(order, ['before', 'idle', 'later']);
});
