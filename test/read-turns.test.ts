import test from 'ava';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Mailbox } from '../src/actors/mailbox.ts';
import { ReadTurns, TURN_BYTES, TURN_FRAMES, type ReadTurnsOptions } from '../src/transport/read-turns.ts';
import { MAX_FRAME_SIZE, MAX_PAYLOAD_SIZE, type Frame } from '../src/wire/frame.ts';

// The flow control of a connection's reads against a transport the test
// holds: whether it is paused, full or drained is the test's to say, and
// every step is recorded in order.

/** A transport that records what flow control does to it; its write buffer fills and drains when the test says. */
class HeldTransport {
  readonly #events: string[];
  full = false;
  destroyed = false;
  #drain = Promise.withResolvers<void>();

  constructor(events: string[]) {
    this.#events = events;
  }

  pause(): void {
    this.#events.push('pause');
  }

  resume(): void {
    this.#events.push('resume');
  }

  drained(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      void this.#drain.promise.then(resolve);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }

  destroy(): void {
    this.destroyed = true;
    this.#events.push('destroy');
  }

  /** The peer takes its replies. */
  drain(): void {
    this.full = false;
    this.#drain.resolve();
    this.#drain = Promise.withResolvers<void>();
  }
}

/** A frame `id` (its type) of `payloadBytes`. */
function frame(id: number, payloadBytes = 10): Frame {
  return { type: id, payload: new Uint8Array(payloadBytes) };
}

/**
 * Settles with `promise`, or fails once `ms` have passed. The timer is a
 * ref'd one: the idle timeout under test runs on AbortSignal.timeout, which
 * does not keep the process alive by itself.
 */
async function within<T>(promise: Promise<T>, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Read turns over a held transport; each frame handled is recorded, then `onFrame` runs for it. */
function readTurns(options: Partial<ReadTurnsOptions> & { onFrame?: (frame: Frame) => void | Promise<void> } = {}) {
  const events: string[] = [];
  const transport = new HeldTransport(events);
  const mailbox = new Mailbox();
  const closed = Promise.withResolvers<void>();
  const state = { closing: false };
  const reads = new ReadTurns({
    transport,
    mailbox,
    handle: async (handled) => {
      events.push(`frame ${handled.type}`);
      await options.onFrame?.(handled);
    },
    answered: async () => undefined,
    closing: () => state.closing,
    idleTimeoutMs: 60_000,
    closed: closed.promise,
    unread: () => events.push('unread'),
    readAgain: () => events.push('read again'),
    ...options,
  });
  /** Resolves once every read taken so far is handled. */
  const handled = () => within(mailbox.idle());
  return { reads, transport, events, state, closed, handled };
}

test('the frames of one read are handled in order with the transport paused, then it is read again', async (t) => {
  const { reads, events, handled } = readTurns();
  t.true(reads.take([frame(1), frame(2), frame(3)]));
  t.true(reads.inHand);
  await handled();
  t.deepEqual(events, ['pause', 'frame 1', 'frame 2', 'frame 3', 'read again', 'resume']);
  t.false(reads.inHand);
});

test('frames delivered in the same tick, whole or not, are handled as one read', async (t) => {
  const { reads, events, handled } = readTurns();
  t.true(reads.take([frame(1)]));
  t.true(reads.take([]));
  t.true(reads.take([frame(2), frame(3)]));
  await handled();
  t.deepEqual(events, ['pause', 'frame 1', 'frame 2', 'frame 3', 'read again', 'resume']);
});

test('bytes with no whole frame start no read', async (t) => {
  const { reads, events, handled } = readTurns();
  t.false(reads.take([]));
  t.false(reads.inHand);
  await handled();
  t.deepEqual(events, []);
});

test("a read is handled TURN_BYTES at a time, the worker's other connections getting a turn between", async (t) => {
  t.is(TURN_BYTES, 4 * MAX_FRAME_SIZE);
  const { reads, events, handled } = readTurns({
    onFrame: (handledFrame) => {
      if (handledFrame.type === 1) setImmediate(() => events.push('another connection'));
    },
  });
  reads.take(Array.from({ length: 8 }, (_, index) => frame(index + 1, MAX_PAYLOAD_SIZE)));
  await handled();
  t.deepEqual(events, [
    'pause',
    ...['frame 1', 'frame 2', 'frame 3', 'frame 4'],
    'another connection',
    ...['frame 5', 'frame 6', 'frame 7', 'frame 8'],
    'read again',
    'resume',
  ]);
});

test("a read of many tiny frames (a PING flood) is handled TURN_FRAMES at a time, the worker's other connections getting a turn between", async (t) => {
  t.is(TURN_FRAMES, 64);
  const { reads, events, handled } = readTurns({
    onFrame: (handledFrame) => {
      if (handledFrame.type === 1) setImmediate(() => events.push('another connection'));
    },
  });
  // 130 empty frames: 1 KiB, far below TURN_BYTES.
  reads.take(Array.from({ length: 130 }, (_, index) => frame(index + 1, 0)));
  await handled();
  const frameEvents = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `frame ${from + i}`);
  t.deepEqual(events, [
    'pause',
    ...frameEvents(1, 64),
    'another connection',
    ...frameEvents(65, 128),
    ...frameEvents(129, 130),
    'read again',
    'resume',
  ]);
});

test('a read of at most TURN_BYTES is handled in one turn', async (t) => {
  const { reads, events, handled } = readTurns({
    onFrame: (handledFrame) => {
      if (handledFrame.type === 1) setImmediate(() => events.push('another connection'));
    },
  });
  const frames = Array.from({ length: 4 }, (_, index) => frame(index + 1, MAX_PAYLOAD_SIZE));
  reads.take(frames);
  await handled();
  await nextTurn();
  t.deepEqual(events, ['pause', 'frame 1', 'frame 2', 'frame 3', 'frame 4', 'read again', 'resume', 'another connection']);
});

test('the connection is not read again until every answer owed for the read is out', async (t) => {
  const answers = Promise.withResolvers<void>();
  const { reads, events, handled } = readTurns({ answered: () => answers.promise });
  reads.take([frame(1), frame(2)]);
  // Every frame handled, and the event loop has turned: only the answers hold the read.
  await nextTurn();
  t.deepEqual(events, ['pause', 'frame 1', 'frame 2']);
  t.true(reads.inHand);
  answers.resolve();
  await handled();
  t.deepEqual(events, ['pause', 'frame 1', 'frame 2', 'read again', 'resume']);
});

test("while the peer's replies fill the write buffer no frame is handled; once it takes them the read goes on", async (t) => {
  const { reads, transport, events, handled } = readTurns({
    onFrame: (handledFrame) => {
      if (handledFrame.type === 1) transport.full = true;
    },
  });
  reads.take([frame(1), frame(2)]);
  await nextTurn();
  t.deepEqual(events, ['pause', 'frame 1']);
  transport.drain();
  await handled();
  t.deepEqual(events, ['pause', 'frame 1', 'frame 2', 'read again', 'resume']);
  t.false(transport.destroyed);
});

test('a peer that leaves its replies unread for the idle timeout is cut off, its other frames dropped, and not read again', async (t) => {
  const { reads, transport, events, handled } = readTurns({
    idleTimeoutMs: 5,
    onFrame: (handledFrame) => {
      if (handledFrame.type === 1) transport.full = true;
    },
  });
  reads.take([frame(1), frame(2)]);
  await handled();
  t.deepEqual(events, ['pause', 'frame 1', 'unread', 'destroy']);
  t.true(transport.destroyed);
  t.false(reads.inHand);
});

test('a connection that closes while its replies are unread is not cut off', async (t) => {
  const { reads, transport, events, closed, handled } = readTurns({
    onFrame: (handledFrame) => {
      if (handledFrame.type === 1) transport.full = true;
    },
  });
  reads.take([frame(1)]);
  await nextTurn();
  transport.destroyed = true;
  closed.resolve();
  await handled();
  t.false(events.includes('unread'));
  t.false(events.includes('destroy'));
});

test('a connection that starts closing has no more of its frames handled and is not read again', async (t) => {
  const { reads, events, state, handled } = readTurns({
    onFrame: (handledFrame) => {
      if (handledFrame.type === 1) state.closing = true;
    },
  });
  reads.take([frame(1), frame(2)]);
  await handled();
  t.deepEqual(events, ['pause', 'frame 1']);
  t.false(reads.inHand);
});

test('stop pauses the transport: the frame in hand is finished, the rest of its read dropped, and it is not read again', async (t) => {
  const first = Promise.withResolvers<void>();
  const { reads, events, handled } = readTurns({
    onFrame: async (handledFrame) => {
      if (handledFrame.type === 1) await first.promise;
    },
  });
  reads.take([frame(1), frame(2)]);
  await nextTurn();
  reads.stop();
  first.resolve();
  await handled();
  t.deepEqual(events, ['pause', 'frame 1', 'pause']);
});
