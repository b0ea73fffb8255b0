import test, { type ExecutionContext } from 'ava';
import type { LotteryApi } from '../src/actors/lottery-api.ts';
import type { WinnersOutcome } from '../src/actors/lottery-api.ts';
import { Session, type SessionOptions } from '../src/actors/session.ts';
import type { AppendOutcome, AppendRequest, FinishOutcome } from '../src/actors/store-api.ts';
import type { SessionStore } from '../src/actors/store-client.ts';
import { generateBets, seededRandom } from '../src/bets/bet-generator.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { uploadDigestOf } from '../src/bets/upload-digest.ts';
import { Ledger } from '../src/ledger/index.ts';
import { createLogger } from '../src/log/logger.ts';
import type { Identity } from '../src/pki/identity.ts';
import { encodeMessage, packValue } from '../src/wire/codec.ts';
import { HEADER_SIZE, MAX_FRAME_SIZE, MAX_PAYLOAD_SIZE, PROTOCOL_VERSION } from '../src/wire/frame.ts';
import { MessageType } from '../src/wire/message-type.ts';
import type { Message, WireBet } from '../src/wire/messages.ts';
import { MemoryTransport } from './helpers/memory-transport.ts';
import { ErrorCode, StoreUnavailableError } from '../src/errors.ts';

// The Session alone, in this thread, over an in-memory transport: no socket,
// no worker. The test is the agency on the other end; a Store and a Lottery
// stand-in answer as the real ones decide (offsets, duplicates, gaps,
// digests), so what is checked is what the Session does with each answer.

const log = createLogger({ level: 'silent', format: 'text' });

/** A logger whose text lines, as the server writes them, the test reads. */
function linesLog() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', format: 'text', color: false, write: (line) => lines.push(line) });
  return { logger, lines };
}

/**
 * The Store's and the Lottery's decisions, made by the ledger as the Store
 * makes them; `digestHeld` stands for the upload digest of the rows the
 * server holds. The stand-ins below only carry these answers to the Session.
 */
function decisionsStandIn(digestHeld: string) {
  const ledger = new Ledger();
  return {
    next: (agency: number) => ledger.state(agency).next,
    append: ({ agency, offset, count, rows }: AppendRequest): AppendOutcome =>
      ledger.decideAlone((draft) => draft.append({ agency, offset, count, valid: rows !== null })),
    finish: (agency: number, total: number, digest: string): FinishOutcome =>
      ledger.decideAlone((draft) => draft.finish(agency, { total, digest }, digestHeld).outcome),
  };
}
type Decisions = ReturnType<typeof decisionsStandIn>;

/** A Store that answers as decided; every request kept. */
class StoreStandIn implements SessionStore {
  readonly requests: AppendRequest[] = [];
  /** What fails as a database Store fails when its database is away. */
  failing: 'welcome' | 'append' | undefined;
  readonly #decisions: Decisions;

  constructor(decisions: Decisions) {
    this.#decisions = decisions;
  }

  async welcome(agency: number) {
    if (this.failing === 'welcome') throw new StoreUnavailableError();
    return { offset: this.#decisions.next(agency), finished: false, drawn: false };
  }

  async append(request: AppendRequest): Promise<AppendOutcome> {
    this.requests.push(request);
    if (this.failing === 'append') throw new StoreUnavailableError();
    return this.#decisions.append(request);
  }
}

/** A Lottery that answers FINISH as decided, holds WINNERS until the test draws, and tells how many agencies the test says have finished. */
class LotteryStandIn implements LotteryApi {
  readonly #decisions: Decisions;
  readonly #draw = Promise.withResolvers<WinnersOutcome>();
  readonly withdrawn: unknown[] = [];
  finishedAgencies = 0;

  constructor(decisions: Decisions) {
    this.#decisions = decisions;
  }

  async finish(agency: number, total: number, digest: string): Promise<FinishOutcome> {
    return this.#decisions.finish(agency, total, digest);
  }

  winners(): Promise<WinnersOutcome> {
    return this.#draw.promise;
  }

  withdraw(ticket: unknown): void {
    this.withdrawn.push(ticket);
  }

  progress() {
    return { finished: this.finishedAgencies, agencies: 5 };
  }

  draw(documents: string[]): void {
    this.#draw.resolve({ status: 'drawn', documents });
  }
}

const AGENCY = 2;
const bets = generateBets({ seed: 11, count: 120 }).map((bet) => bet.slice(0, 5) as WireBet);
const batches = Array.from({ length: 12 }, (_, i) => ({ offset: i * 10, bets: bets.slice(i * 10, i * 10 + 10) }));
const digestOfAll = uploadDigestOf(AGENCY, bets);

function startSession(t: ExecutionContext, options: Partial<SessionOptions> & { capBytes?: number } = {}) {
  const transport = new MemoryTransport({ capBytes: options.capBytes });
  const decisions = decisionsStandIn(digestOfAll);
  const store = new StoreStandIn(decisions);
  const lottery = new LotteryStandIn(decisions);
  const hellos: number[] = [];
  const session = new Session(transport, {
    agencies: 5,
    store,
    lottery,
    log,
    handshakeTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
    frameTimeoutMs: 60_000,
    onHello: (agency) => hellos.push(agency),
    ...options,
  });
  t.teardown(() => session.stop('test over'));
  const send = (...messages: Message[]) => transport.deliver(Buffer.concat(messages.map((message) => encodeMessage(message))));
  return { transport, store, lottery, session, hellos, send };
}

/** `bytes` cut at random places into chunks of 1 to 300 bytes. */
function randomChunks(bytes: Buffer, seed: number): Buffer[] {
  const random = seededRandom(seed);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const size = 1 + Math.floor(random() * 300);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

test('HELLO is answered with WELCOME at the offset the Store gives, and the worker is told the agency', async (t) => {
  const { transport, send, hellos } = startSession(t);
  send({ type: 'HELLO', agency: AGENCY });
  t.deepEqual(await transport.receive(), { type: 'WELCOME', offset: 0, finished: false, drawn: false });
  t.deepEqual(hellos, [AGENCY]);
});

test('a peer that ends its side has the connection closed, with no answer owed', async (t) => {
  const { transport, send } = startSession(t);
  send({ type: 'HELLO', agency: AGENCY });
  t.like(await transport.receive(), { type: 'WELCOME' });
  transport.endFromPeer();
  await transport.closed;
  t.true(transport.destroyed);
});

test('a message before HELLO is refused and the connection closed', async (t) => {
  const { transport, send, store } = startSession(t);
  send({ type: 'BETS', offset: 0, bets: batches[0].bets });
  t.like(await transport.receive(), { type: 'ERROR', code: ErrorCode.UNEXPECTED_MESSAGE });
  await transport.closed;
  t.is(store.requests.length, 0);
});

for (const seed of [1, 2, 3]) {
  test(`batches fed in random chunks (seed ${seed}) each reach the Store once, in order, and are acknowledged in order`, async (t) => {
    const { transport, store } = startSession(t);
    const stream = Buffer.concat([
      encodeMessage({ type: 'HELLO', agency: AGENCY }),
      ...batches.map((batch) => encodeMessage({ type: 'BETS', ...batch })),
    ]);
    for (const chunk of randomChunks(stream, seed)) transport.deliver(chunk);
    t.like(await transport.receive(), { type: 'WELCOME' });
    for (const batch of batches) t.deepEqual(await transport.receive(), { type: 'ACK', offset: batch.offset + batch.bets.length });
    t.deepEqual(
      store.requests.map(({ agency, offset, count }) => ({ agency, offset, count })),
      batches.map(({ offset, bets }) => ({ agency: AGENCY, offset, count: bets.length })),
    );
    t.deepEqual(Buffer.concat(store.requests.map((request) => request.rows!)), Buffer.from(encodeCanonicalLines(AGENCY, bets)));
  });
}

test('a batch sent again is acknowledged at where the agency stands; a batch past it is a gap that closes the connection', async (t) => {
  const { transport, send } = startSession(t);
  send(
    { type: 'HELLO', agency: AGENCY },
    { type: 'BETS', ...batches[0] },
    { type: 'BETS', ...batches[1] },
    { type: 'BETS', ...batches[0] },
  );
  t.like(await transport.receive(), { type: 'WELCOME' });
  t.deepEqual(await transport.receive(), { type: 'ACK', offset: 10 });
  t.deepEqual(await transport.receive(), { type: 'ACK', offset: 20 });
  t.deepEqual(await transport.receive(), { type: 'ACK', offset: 20 });
  send({ type: 'BETS', ...batches[3] });
  t.like(await transport.receive(), { type: 'ERROR', code: ErrorCode.OFFSET_GAP, offset: 30, next: 20 });
  await transport.closed;
});

test('a batch with an invalid bet is refused as a whole with INVALID_BET, nothing of it stored, and the connection stays open', async (t) => {
  const { logger, lines } = linesLog();
  const { transport, send, store } = startSession(t, { log: logger });
  const invalid = [...batches[0].bets];
  invalid[3] = [invalid[3][0], invalid[3][1], 'not digits', invalid[3][3], invalid[3][4]];
  send({ type: 'HELLO', agency: AGENCY }, { type: 'BETS', offset: 0, bets: invalid });
  t.like(await transport.receive(), { type: 'WELCOME' });
  const error = await transport.receive();
  t.like(error, { type: 'ERROR', code: ErrorCode.INVALID_BET, offset: 0, next: 10 });
  t.regex((error as { message: string }).message, /bet 3 of the batch: document/);
  t.is(store.requests[0].rows, null);
  send({ type: 'PING' }, { type: 'BETS', ...batches[1] });
  t.deepEqual(await transport.receive(), { type: 'PONG' });
  t.deepEqual(await transport.receive(), { type: 'ACK', offset: 20 });
  t.false(transport.destroyed);
  t.true(
    lines.some((line) => /action: apuesta_recibida \| result: fail \| agencia: 2 \| cantidad: 10 \| offset: 0/.test(line)),
    lines.join('\n'),
  );
});

test('FINISH with the count and digest the server holds is acknowledged with the total, and WINNERS is answered once the draw is made', async (t) => {
  const { transport, send, lottery } = startSession(t);
  send({ type: 'HELLO', agency: AGENCY }, ...batches.map((batch) => ({ type: 'BETS' as const, ...batch })), {
    type: 'FINISH',
    total: bets.length,
    digest: digestOfAll,
  });
  t.like(await transport.receive(), { type: 'WELCOME' });
  for (const batch of batches) t.like(await transport.receive(), { type: 'ACK', offset: batch.offset + batch.bets.length });
  t.deepEqual(await transport.receive(), { type: 'ACK', offset: bets.length });
  send({ type: 'WINNERS' });
  // Held until the draw: nothing is answered meanwhile but PING.
  send({ type: 'PING' });
  t.deepEqual(await transport.receive(), { type: 'PONG' });
  lottery.draw(['30111222', '40111222']);
  t.deepEqual(await transport.receive(), { type: 'RESULT', documents: ['30111222', '40111222'], last: true });
});

test('FINISH whose digest differs from what the server holds is refused with DIGEST_MISMATCH and the connection closed', async (t) => {
  const { transport, send } = startSession(t);
  send({ type: 'HELLO', agency: AGENCY }, ...batches.map((batch) => ({ type: 'BETS' as const, ...batch })), {
    type: 'FINISH',
    total: bets.length,
    digest: uploadDigestOf(AGENCY, bets.slice(1)),
  });
  t.like(await transport.receive(), { type: 'WELCOME' });
  for (const _ of batches) t.like(await transport.receive(), { type: 'ACK' });
  t.like(await transport.receive(), { type: 'ERROR', code: ErrorCode.DIGEST_MISMATCH, next: bets.length });
  await transport.closed;
});

test('WINNERS before FINISH is refused', async (t) => {
  const { transport, send } = startSession(t);
  send({ type: 'HELLO', agency: AGENCY }, { type: 'WINNERS' });
  t.like(await transport.receive(), { type: 'WELCOME' });
  t.like(await transport.receive(), { type: 'ERROR', code: ErrorCode.UNEXPECTED_MESSAGE });
  await transport.closed;
});

test('stop answers a held WINNERS with SERVER_STOPPING, closes, and the Lottery is told to drop the request', async (t) => {
  const { transport, send, session, lottery } = startSession(t);
  send(
    { type: 'HELLO', agency: AGENCY },
    ...batches.map((batch) => ({ type: 'BETS' as const, ...batch })),
    { type: 'FINISH', total: bets.length, digest: digestOfAll },
    { type: 'WINNERS' },
    { type: 'PING' },
  );
  t.like(await transport.receive(), { type: 'WELCOME' });
  for (const _ of batches) t.like(await transport.receive(), { type: 'ACK' });
  t.deepEqual(await transport.receive(), { type: 'ACK', offset: bets.length });
  t.deepEqual(await transport.receive(), { type: 'PONG' });
  t.deepEqual(lottery.withdrawn, []);
  await session.stop('the server is stopping');
  t.deepEqual(await transport.receive(), { type: 'ERROR', code: ErrorCode.SERVER_STOPPING, message: 'the server is stopping' });
  await transport.closed;
  t.is(lottery.withdrawn.length, 1);
});

for (const [name, identity, code] of [
  ['another agency', { kind: 'agency', agency: 3 }, ErrorCode.UNAUTHORIZED],
  ['the monitor', { kind: 'monitor' }, ErrorCode.UNAUTHORIZED],
] as Array<[string, Identity, string]>) {
  test(`a connection whose certificate is ${name}'s cannot say HELLO for agency ${AGENCY}`, async (t) => {
    const { transport, send, hellos } = startSession(t, { identity });
    send({ type: 'HELLO', agency: AGENCY });
    t.like(await transport.receive(), { type: 'ERROR', code });
    await transport.closed;
    t.deepEqual(hellos, []);
  });
}

test('a peer that stops reading its replies is not read while they are unread, and is cut off after the idle timeout', async (t) => {
  const { transport, send } = startSession(t, { capBytes: 1024, idleTimeoutMs: 300 });
  transport.peerReads = false;
  // PONGs are 9 bytes: 1,000 of them fill a 1 KiB queue long before the last PING is read. After HELLO,
  // as an agency would: before it, PINGs are limited.
  const pings = Array.from({ length: 1000 }, () => ({ type: 'PING' }) as const);
  send({ type: 'HELLO', agency: 1 }, ...pings);
  // The cut-off runs on the idle timeout's AbortSignal.timeout, which keeps no process alive: a ref'd
  // timer bounds the wait and holds the test process up meanwhile.
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([
    transport.closed,
    new Promise((_, reject) => (bound = setTimeout(() => reject(new Error('not cut off within 10 s')), 10_000))),
  ]).finally(() => clearTimeout(bound));
  t.true(transport.destroyed);
  // Cut off with replies unread, and most PINGs never read: the Session stopped reading once its queue was full.
  const answered = transport.writes.reduce((sum, write) => sum + write.length, 0) / 9;
  t.true(answered < 1000, `${answered} of 1000 PINGs answered`);
});

test('an HTTP request instead of a frame gets ERROR BAD_FRAME and the connection is closed', async (t) => {
  const { transport } = startSession(t);
  transport.deliver(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  const answer = await transport.receive();
  t.like(answer, { type: 'ERROR', code: ErrorCode.BAD_FRAME });
  t.regex((answer as { message: string }).message, /magic/);
  await transport.closed;
  t.true(transport.destroyed);
});

test('a header announcing a payload over 8184 bytes gets BAD_FRAME at once, without the Session waiting for the payload', async (t) => {
  // Timeouts far beyond any test's run: the answer must come from the header alone.
  const { transport } = startSession(t, { handshakeTimeoutMs: 3_600_000, idleTimeoutMs: 3_600_000, frameTimeoutMs: 3_600_000 });
  const length = MAX_PAYLOAD_SIZE + 1;
  transport.deliver(
    new Uint8Array([
      0x4c,
      0x54,
      PROTOCOL_VERSION,
      MessageType.BETS,
      length >>> 24,
      (length >>> 16) & 0xff,
      (length >>> 8) & 0xff,
      length & 0xff,
    ]),
  );
  const answer = await transport.receive();
  t.like(answer, { type: 'ERROR', code: ErrorCode.BAD_FRAME });
  t.regex((answer as { message: string }).message, /8185/);
  await transport.closed;
});

test('a frame of exactly 8192 bytes is within the cap and is answered', async (t) => {
  const { transport } = startSession(t);
  // A PING whose map carries padding up to the largest payload allowed.
  const base = packValue({ pad: '' }).length;
  let payload = packValue({ pad: 'x'.repeat(MAX_PAYLOAD_SIZE - base) });
  payload = packValue({ pad: 'x'.repeat(MAX_PAYLOAD_SIZE - base - (payload.length - MAX_PAYLOAD_SIZE)) });
  t.is(payload.length, MAX_PAYLOAD_SIZE);
  const frame = new Uint8Array(MAX_FRAME_SIZE);
  frame.set([0x4c, 0x54, PROTOCOL_VERSION, MessageType.PING]);
  new DataView(frame.buffer).setUint32(4, payload.length);
  frame.set(payload, HEADER_SIZE);
  transport.deliver(frame);
  t.deepEqual(await transport.receive(), { type: 'PONG' });
});

test('an agency that shows its progress is told WAITING while its WINNERS is held, then gets its RESULT', async (t) => {
  const { transport, send, lottery } = startSession(t);
  lottery.finishedAgencies = 3;
  send(
    { type: 'HELLO', agency: AGENCY, progress: true },
    ...batches.map((batch) => ({ type: 'BETS' as const, ...batch })),
    { type: 'FINISH', total: bets.length, digest: digestOfAll },
    { type: 'WINNERS' },
  );
  t.like(await transport.receive(), { type: 'WELCOME' });
  for (const _ of batches) t.like(await transport.receive(), { type: 'ACK' });
  t.deepEqual(await transport.receive(), { type: 'ACK', offset: bets.length });
  t.deepEqual(await transport.receive(), { type: 'WAITING', finished: 3, agencies: 5 });
  lottery.draw(['30111222']);
  t.deepEqual(await transport.receive(), { type: 'RESULT', documents: ['30111222'], last: true });
});

test('a connection replaced by a newer one for its agency is told REPLACED and closed', async (t) => {
  const { transport, send, session } = startSession(t);
  send({ type: 'HELLO', agency: AGENCY });
  t.like(await transport.receive(), { type: 'WELCOME' });
  session.replace();
  t.deepEqual(await transport.receive(), {
    type: 'ERROR',
    code: ErrorCode.REPLACED,
    message: `a newer connection took over agency ${AGENCY}: another process is uploading as this agency`,
  });
  await transport.closed;
});

for (const failing of ['welcome', 'append'] as const) {
  test(`a Store that fails at ${failing === 'welcome' ? 'HELLO' : 'a batch'} has the agency told so with an ERROR it retries on, and the connection closed`, async (t) => {
    const { transport, send, store } = startSession(t);
    store.failing = failing;
    send({ type: 'HELLO', agency: AGENCY }, { type: 'BETS', ...batches[0] }, { type: 'BETS', ...batches[1] });
    if (failing === 'append') t.like(await transport.receive(), { type: 'WELCOME' });
    // INTERNAL is not among the codes the agency gives up on: it reconnects with its backoff and resends from its WELCOME.
    t.deepEqual(await transport.receive(), { type: 'ERROR', code: ErrorCode.INTERNAL, message: new StoreUnavailableError().message });
    await transport.closed;
    t.true(transport.destroyed);
  });
}
