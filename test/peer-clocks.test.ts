import test from 'ava';
import { LINGER_MS, PeerClocks, type PeerClockLimits, type Timekeeper, type Timer } from '../src/transport/peer-clocks.ts';

// The peer's clocks against a time the test winds by hand: every deadline is
// checked to the millisecond, in no time, whatever else the machine does.
// One test runs them on Node's own timers, for a few milliseconds.

/** A timer of HandWoundTime's. */
class HandWoundTimer implements Timer {
  readonly #time: HandWoundTime;
  readonly expire: () => void;
  readonly #ms: number;
  due: number;
  unrefed = false;

  constructor(time: HandWoundTime, expire: () => void, ms: number) {
    this.#time = time;
    this.expire = expire;
    this.#ms = ms;
    this.due = time.now() + ms;
  }

  refresh(): this {
    this.due = this.#time.now() + this.#ms;
    this.#time.arm(this);
    return this;
  }

  unref(): this {
    this.unrefed = true;
    return this;
  }
}

/** Time that passes only when the test says, firing the timers due on the way in order. */
class HandWoundTime implements Timekeeper {
  #now = 0;
  readonly #armed = new Set<HandWoundTimer>();

  now(): number {
    return this.#now;
  }

  setTimeout(expire: () => void, ms: number): HandWoundTimer {
    const timer = new HandWoundTimer(this, expire, ms);
    this.#armed.add(timer);
    return timer;
  }

  clearTimeout(timer: Timer | undefined): void {
    this.#armed.delete(timer as HandWoundTimer);
  }

  arm(timer: HandWoundTimer): void {
    this.#armed.add(timer);
  }

  /** Timers armed now. */
  get armed(): HandWoundTimer[] {
    return [...this.#armed];
  }

  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      const next = this.armed.filter((timer) => timer.due <= until).sort((a, b) => a.due - b.due)[0];
      if (next === undefined) break;
      this.#armed.delete(next);
      this.#now = Math.max(this.#now, next.due);
      next.expire();
    }
    this.#now = until;
  }
}

const LIMITS: PeerClockLimits = { handshakeTimeoutMs: 10_000, idleTimeoutMs: 1_000, frameTimeoutMs: 3_000 };

/** Clocks on hand-wound time, and what expired when. */
function clocks(limits: Partial<PeerClockLimits> = {}) {
  const time = new HandWoundTime();
  const expired: string[] = [];
  const at = (name: string) => () => expired.push(`${name} at ${time.now()}`);
  const peer = new PeerClocks({ ...LIMITS, ...limits }, { handshake: at('handshake'), idle: at('idle'), frame: at('frame') }, time);
  return { peer, time, expired };
}

test('without HELLO the handshake deadline expires at the handshake timeout, less what the TLS handshake took', (t) => {
  const { peer, time, expired } = clocks({ handshakeTimeoutMs: 10_000, handshakeSpentMs: 2_500, idleTimeoutMs: 60_000 });
  peer.traffic();
  time.advance(7_499);
  t.deepEqual(expired, []);
  time.advance(1);
  t.deepEqual(expired, ['handshake at 7500']);
});

test('a TLS handshake that took the whole handshake timeout leaves a deadline of now, not a negative one', (t) => {
  const { time, expired } = clocks({ handshakeTimeoutMs: 1_000, handshakeSpentMs: 1_500, idleTimeoutMs: 60_000 });
  time.advance(0);
  t.deepEqual(expired, ['handshake at 0']);
});

test('HELLO accepted meets the handshake deadline: it never expires', (t) => {
  const { peer, time, expired } = clocks({ idleTimeoutMs: 60_000 });
  time.advance(9_000);
  peer.helloAccepted();
  time.advance(50_000);
  t.deepEqual(expired, []);
});

test("the idle timer expires after the idle timeout of silence on the peer's turn, and each arrival starts it again", (t) => {
  const { peer, time, expired } = clocks();
  time.advance(999);
  peer.traffic();
  time.advance(999);
  peer.traffic();
  time.advance(999);
  t.deepEqual(expired, []);
  time.advance(1);
  t.deepEqual(expired, ['idle at 2998']);
});

test('the idle timer does not run while the server works for the peer, and starts whole on its turn', (t) => {
  const { peer, time, expired } = clocks();
  time.advance(900);
  peer.serverWorking();
  time.advance(5_000);
  peer.traffic();
  t.deepEqual(expired, []);
  peer.peersTurn();
  time.advance(999);
  t.deepEqual(expired, []);
  time.advance(1);
  t.deepEqual(expired, ['idle at 6900']);
});

test('the idle timer does not run while the server owes the peer an answer (a held WINNERS)', (t) => {
  const { peer, time, expired } = clocks({ handshakeTimeoutMs: 60_000 });
  peer.serverWorking();
  peer.serverOwes();
  time.advance(9_000);
  peer.traffic();
  t.deepEqual(expired, []);
  peer.peersTurn();
  time.advance(1_000);
  t.deepEqual(expired, ['idle at 10000']);
});

test('a frame trickled in, never silent for an idle timeout, expires at the frame timeout from its first byte', (t) => {
  const { peer, time, expired } = clocks({ handshakeTimeoutMs: 60_000 });
  peer.traffic();
  peer.frameBegun();
  for (let elapsed = 0; elapsed < 2_900; elapsed += 100) {
    time.advance(100);
    peer.traffic();
  }
  t.deepEqual(expired, []);
  time.advance(100);
  t.deepEqual(expired, ['frame at 3000']);
});

test('a frame complete stops its clock, and the next frame begun has the whole frame timeout', (t) => {
  const { peer, time, expired } = clocks({ handshakeTimeoutMs: 60_000, idleTimeoutMs: 60_000 });
  peer.frameBegun();
  time.advance(2_000);
  peer.frameComplete();
  time.advance(2_000);
  peer.frameBegun();
  time.advance(2_999);
  t.deepEqual(expired, []);
  time.advance(1);
  t.deepEqual(expired, ['frame at 7000']);
});

test('a frame begun while another one completes starts its clock again, whole', (t) => {
  const { peer, time, expired } = clocks({ handshakeTimeoutMs: 60_000, idleTimeoutMs: 60_000 });
  peer.frameBegun();
  time.advance(2_500);
  peer.frameBegun();
  time.advance(2_999);
  t.deepEqual(expired, []);
  time.advance(1);
  t.deepEqual(expired, ['frame at 5500']);
});

test('the frame clock pauses while the server works and resumes with what it had left', (t) => {
  const { peer, time, expired } = clocks({ handshakeTimeoutMs: 60_000, idleTimeoutMs: 60_000 });
  peer.frameBegun();
  time.advance(1_000);
  peer.serverWorking();
  time.advance(20_000);
  t.deepEqual(expired, []);
  peer.peersTurn();
  time.advance(1_999);
  t.deepEqual(expired, []);
  time.advance(1);
  t.deepEqual(expired, ['frame at 23000']);
});

test('the frame clock runs while the server owes an answer: a begun frame must still complete', (t) => {
  const { peer, time, expired } = clocks({ handshakeTimeoutMs: 60_000 });
  peer.frameBegun();
  time.advance(500);
  peer.serverWorking();
  time.advance(10_000);
  peer.serverOwes();
  time.advance(2_499);
  t.deepEqual(expired, []);
  time.advance(1);
  t.deepEqual(expired, ['frame at 13000']);
});

test('a frame begun while the server works keeps its whole timeout until the connection is read again', (t) => {
  const { peer, time, expired } = clocks({ handshakeTimeoutMs: 60_000, idleTimeoutMs: 60_000 });
  peer.serverWorking();
  peer.frameBegun();
  time.advance(10_000);
  peer.peersTurn();
  time.advance(2_999);
  t.deepEqual(expired, []);
  time.advance(1);
  t.deepEqual(expired, ['frame at 13000']);
});

test("the peer's turn again does not restart a frame clock that runs", (t) => {
  const { peer, time, expired } = clocks({ handshakeTimeoutMs: 60_000, idleTimeoutMs: 60_000 });
  peer.frameBegun();
  time.advance(1_000);
  peer.serverOwes();
  time.advance(1_000);
  peer.peersTurn();
  time.advance(1_000);
  t.deepEqual(expired, ['frame at 3000']);
});

test('once stopped no clock of the peer runs again, whatever it sends or whoever has the turn', (t) => {
  const { peer, time, expired } = clocks({ handshakeTimeoutMs: 60_000 });
  peer.frameBegun();
  peer.stop();
  peer.peersTurn();
  peer.serverOwes();
  peer.traffic();
  peer.frameBegun();
  time.advance(50_000);
  t.deepEqual(expired, []);
  // The handshake deadline is not the peer's turn: it still holds until the connection closes.
  time.advance(10_000);
  t.deepEqual(expired, ['handshake at 60000']);
});

test('a closing connection is destroyed after LINGER_MS, the process not kept alive for it, and no other clock expires', (t) => {
  const { peer, time, expired } = clocks();
  let destroyed = 0;
  peer.frameBegun();
  peer.closing(() => destroyed++);
  t.is(time.armed.length, 1);
  t.true(time.armed[0].unrefed);
  time.advance(LINGER_MS - 1);
  t.is(destroyed, 0);
  time.advance(1);
  t.is(destroyed, 1);
  time.advance(60_000);
  t.deepEqual(expired, []);
  t.is(destroyed, 1);
});

test('a closed connection has no timer left', (t) => {
  const { peer, time, expired } = clocks();
  peer.frameBegun();
  peer.closing(() => t.fail('destroyed after it closed'));
  peer.closed();
  t.deepEqual(time.armed, []);
  time.advance(60_000);
  t.deepEqual(expired, []);
});

test("on Node's own timers, an idle timeout of a few milliseconds expires", async (t) => {
  const idle = Promise.withResolvers<void>();
  const peer = new PeerClocks(
    { handshakeTimeoutMs: 60_000, idleTimeoutMs: 5, frameTimeoutMs: 60_000 },
    { handshake: () => t.fail('handshake expired'), idle: () => idle.resolve(), frame: () => t.fail('frame expired') },
  );
  const bound = AbortSignal.timeout(5_000);
  await Promise.race([
    idle.promise,
    new Promise((_, reject) => bound.addEventListener('abort', () => reject(new Error('no idle expiry within 5 s')))),
  ]);
  peer.closed();
  t.pass();
});
