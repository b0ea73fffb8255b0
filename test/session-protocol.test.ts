import test from 'ava';
import type { AgencyWelcome, AppendOutcome } from '../src/actors/store-api.ts';
import {
  MAX_PINGS_BEFORE_HELLO,
  SessionProtocol,
  type BatchInHand,
  type SessionAction,
  type SessionProtocolOptions,
} from '../src/actors/session-protocol.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { uploadDigestOf } from '../src/bets/upload-digest.ts';
import { decodeMessage, encodeMessage, packValue } from '../src/wire/codec.ts';
import { FrameDecoder } from '../src/wire/frame-decoder.ts';
import { HEADER_SIZE, MAX_FRAME_SIZE, MAX_PAYLOAD_SIZE, type Frame } from '../src/wire/frame.ts';
import type { Message, WireBet } from '../src/wire/messages.ts';
import { ErrorCode, ProtocolError } from '../src/errors.ts';
import { lotteryStatus } from '../src/ledger/lottery-status.ts';
import { STATUS_WAITING_LIMIT } from '../src/wire/codec.ts';

// The protocol's rules, one input at a time, against the pure state machine
// (session-protocol.ts): no transport, no timer, no Store or Lottery. The
// test plays every party: it sends the frames, and answers for the Store and
// the Lottery with the outcomes they decide (their own tests check those
// decisions); what is checked is what the Session says and does with each.

const TODAY = '2026-12-04';
const PEER = 'memory:1';
const FRESH: AgencyWelcome = { offset: 0, finished: false, drawn: false };

function protocol(options: Partial<SessionProtocolOptions> = {}): SessionProtocol {
  return new SessionProtocol({ agencies: 5, peer: PEER, logsEachBet: false, today: () => TODAY, ...options });
}

/** A message as the peer's frame. */
function frameOf(message: Message): Frame {
  const bytes = encodeMessage(message);
  return { type: bytes[3], payload: bytes.subarray(HEADER_SIZE) };
}

/** What the actions say to the peer, in order, decoded as the peer would. */
function said(actions: readonly SessionAction[]): Message[] {
  const decoder = new FrameDecoder();
  const messages: Message[] = [];
  for (const action of actions) {
    if (action.kind === 'send') messages.push(action.message);
    if (action.kind === 'write') for (const frame of decoder.push(Buffer.from(action.frame))) messages.push(decodeMessage(frame));
  }
  return messages;
}

const kinds = (actions: readonly SessionAction[]) => actions.map((action) => action.kind);

/** The log lines the actions make, each as its level, action, result and fields. */
function logged(actions: readonly SessionAction[]) {
  return actions.flatMap((action) =>
    action.kind === 'log' ? [{ level: action.level, action: action.action, result: action.result, ...action.fields }] : [],
  );
}

/** The one batch the actions hand to the Store. */
function appended(actions: readonly SessionAction[]): BatchInHand {
  const appends = actions.filter((action) => action.kind === 'append');
  if (appends.length !== 1) throw new Error(`expected one append, got ${JSON.stringify(kinds(actions))}`);
  return appends[0].batch;
}

/** A machine past HELLO for `agency`, welcomed as the Store says. */
function admitted(agency = 2, welcome: AgencyWelcome = FRESH, options: Partial<SessionProtocolOptions> = {}): SessionProtocol {
  const machine = protocol(options);
  machine.frame(frameOf({ type: 'HELLO', agency }));
  machine.welcomed(welcome);
  return machine;
}

/** BETS sent and its batch answered by the Store with `outcome`: what the Session then does. */
function betsAnswered(machine: SessionProtocol, offset: number, bets: WireBet[], outcome: AppendOutcome) {
  const batch = appended(machine.frame(frameOf({ type: 'BETS', offset, bets })));
  return { batch, answer: machine.stored(batch, outcome) };
}

const bet = (first: string, last: string, document: string, number = 1): WireBet => [first, last, document, '1990-05-17', number];

test('PING before HELLO is answered with PONG, and HELLO still works afterwards', (t) => {
  const machine = protocol({ agencies: 2 });
  t.deepEqual(said(machine.frame(frameOf({ type: 'PING' }))), [{ type: 'PONG' }]);
  t.deepEqual(machine.frame(frameOf({ type: 'HELLO', agency: 2 })), [{ kind: 'welcome', agency: 2 }]);
  const welcomed = machine.welcomed(FRESH);
  t.deepEqual(said(welcomed), [{ type: 'WELCOME', offset: 0, finished: false, drawn: false }]);
  t.deepEqual(kinds(welcomed), ['send', 'admitted', 'log']);
  t.deepEqual(logged(welcomed), [{ level: 'info', action: 'conexion', result: 'success', peer: PEER, offset: 0, finalizada: false }]);
  t.is(machine.agency, 2);
});

for (const agency of [0, 4]) {
  test(`HELLO from agency ${agency} when agencies are 1..3 gets ERROR UNKNOWN_AGENCY and the connection is closed`, (t) => {
    const machine = protocol({ agencies: 3 });
    const actions = machine.frame(frameOf({ type: 'HELLO', agency }));
    t.like(said(actions), [{ type: 'ERROR', code: ErrorCode.UNKNOWN_AGENCY }]);
    t.is(actions.at(-1)?.kind, 'close');
    t.true(machine.closing);
    t.is(machine.agency, undefined);
  });
}

test('BETS before HELLO gets ERROR UNEXPECTED_MESSAGE and the connection is closed, nothing handed to the Store', (t) => {
  const machine = protocol();
  const actions = machine.frame(frameOf({ type: 'BETS', offset: 0, bets: [bet('Ana', 'Gómez', '111')] }));
  t.like(said(actions), [{ type: 'ERROR', code: ErrorCode.UNEXPECTED_MESSAGE, message: 'BETS before HELLO' }]);
  t.deepEqual(kinds(actions), ['log', 'send', 'close']);
  t.deepEqual(logged(actions), [
    { level: 'warn', action: 'conexion', result: 'fail', peer: PEER, code: ErrorCode.UNEXPECTED_MESSAGE, error: 'BETS before HELLO' },
  ]);
});

for (const type of ['FINISH', 'WINNERS'] as const) {
  test(`${type} before HELLO gets ERROR UNEXPECTED_MESSAGE and the connection is closed`, (t) => {
    const message: Message = type === 'FINISH' ? { type, total: 0, digest: uploadDigestOf(1, []) } : { type };
    const actions = protocol().frame(frameOf(message));
    t.like(said(actions), [{ type: 'ERROR', code: ErrorCode.UNEXPECTED_MESSAGE, message: `${type} before HELLO` }]);
    t.is(actions.at(-1)?.kind, 'close');
  });
}

test('a second HELLO on the same connection gets ERROR UNEXPECTED_MESSAGE and the connection is closed', (t) => {
  const machine = admitted(2);
  const actions = machine.frame(frameOf({ type: 'HELLO', agency: 2 }));
  t.like(said(actions), [{ type: 'ERROR', code: ErrorCode.UNEXPECTED_MESSAGE, message: 'a second HELLO on the same connection' }]);
  t.is(actions.at(-1)?.kind, 'close');
});

test('a message only the server sends gets ERROR UNEXPECTED_MESSAGE', (t) => {
  const actions = admitted().frame(frameOf({ type: 'ACK', offset: 3 }));
  t.like(said(actions), [{ type: 'ERROR', code: ErrorCode.UNEXPECTED_MESSAGE, message: 'an agency does not send ACK' }]);
  t.is(actions.at(-1)?.kind, 'close');
});

test('a payload of the wrong shape gets ERROR BAD_MESSAGE and the connection is closed', (t) => {
  const actions = protocol().frame({ type: frameOf({ type: 'HELLO', agency: 1 }).type, payload: packValue({ agency: 'one' }) });
  t.like(said(actions), [{ type: 'ERROR', code: ErrorCode.BAD_MESSAGE }]);
  t.is(actions.at(-1)?.kind, 'close');
});

test('STATUS is limited per connection: past the limit the connection is told and closed, so one peer cannot keep the store worker counting', (t) => {
  const monitor = protocol({ identity: { kind: 'monitor' } });
  for (let i = 0; i < MAX_PINGS_BEFORE_HELLO; i++) t.deepEqual(monitor.frame(frameOf({ type: 'STATUS' })), [{ kind: 'status' }]);
  const actions = monitor.frame(frameOf({ type: 'STATUS' }));
  t.like(said(actions), [{ type: 'ERROR', code: ErrorCode.UNEXPECTED_MESSAGE }]);
  t.regex((said(actions)[0] as { message: string }).message, /more than 16 STATUS on one connection/);
  t.is(actions.at(-1)?.kind, 'close');
});

test('PINGs before HELLO are limited: past the limit the connection is told and closed; after HELLO they are not', (t) => {
  const monitor = protocol({ identity: { kind: 'monitor' } });
  for (let i = 0; i < MAX_PINGS_BEFORE_HELLO; i++) t.deepEqual(said(monitor.frame(frameOf({ type: 'PING' }))), [{ type: 'PONG' }]);
  const actions = monitor.frame(frameOf({ type: 'PING' }));
  t.like(said(actions), [{ type: 'ERROR', code: ErrorCode.UNEXPECTED_MESSAGE }]);
  t.regex((said(actions)[0] as { message: string }).message, /more than 16 PINGs before HELLO/);
  t.is(actions.at(-1)?.kind, 'close');

  const agency = protocol({ agencies: 2 });
  t.deepEqual(agency.frame(frameOf({ type: 'HELLO', agency: 2 })), [{ kind: 'welcome', agency: 2 }]);
  agency.welcomed(FRESH);
  for (let i = 0; i < 3 * MAX_PINGS_BEFORE_HELLO; i++) t.deepEqual(said(agency.frame(frameOf({ type: 'PING' }))), [{ type: 'PONG' }]);
});

test('the monitor certificate may only PING and ask STATUS: anything else is UNAUTHORIZED', (t) => {
  const machine = protocol({ identity: { kind: 'monitor' } });
  t.deepEqual(said(machine.frame(frameOf({ type: 'PING' }))), [{ type: 'PONG' }]);
  const actions = machine.frame(frameOf({ type: 'HELLO', agency: 2 }));
  t.like(said(actions), [{ type: 'ERROR', code: ErrorCode.UNAUTHORIZED }]);
  t.regex(
    (said(actions)[0] as { message: string }).message,
    /the monitor certificate may only PING, ask STATUS and CLOSE sales, not send HELLO/,
  );
  t.is(actions.at(-1)?.kind, 'close');
});

test('STATUS is answered with one STATUS_REPORT for the monitor, or anyone in plaintext; an agency certificate is UNAUTHORIZED', (t) => {
  const status = lotteryStatus({
    agencies: 3,
    states: new Map([[1, { stored: 4, finished: true }]]),
    connected: new Set([2]),
    bets: 4,
    betsPerSecond: 1.6,
    winners: null,
    drawDigest: null,
  });
  for (const identity of [{ kind: 'monitor' } as const, undefined]) {
    const machine = protocol({ identity });
    t.deepEqual(machine.frame(frameOf({ type: 'STATUS' })), [{ kind: 'status' }]);
    const report = said(machine.statusAnswered(status));
    t.deepEqual(report, [
      {
        type: 'STATUS_REPORT',
        agencies: 3,
        counts: { absent: 1, uploading: 1, finished: 1, closed: 0 },
        waiting: [2, 3],
        waitingMore: 0,
        bets: 4,
        betsPerSecond: 2,
        drawn: false,
      },
    ]);
    // It decodes as it was sent.
    t.deepEqual(decodeMessage(frameOf(report[0])), report[0]);
  }
  const agency = protocol({ identity: { kind: 'agency', agency: 1 } });
  const refused = agency.frame(frameOf({ type: 'STATUS' }));
  t.like(said(refused), [{ type: 'ERROR', code: ErrorCode.UNAUTHORIZED, message: 'only the monitor certificate may ask STATUS' }]);
});

test('a STATUS_REPORT of 10,000 agencies none finished fits one frame, listing the first ids and counting the rest', (t) => {
  const agencies = 10_000;
  const status = lotteryStatus({
    agencies,
    states: new Map(),
    connected: new Set(),
    bets: 0,
    betsPerSecond: 0,
    winners: null,
    drawDigest: null,
  });
  const [report] = said(protocol().statusAnswered(status));
  t.like(report, { waitingMore: agencies - STATUS_WAITING_LIMIT });
  t.true(encodeMessage(report).length <= MAX_FRAME_SIZE);
  const { type, ...payload } = report as Message & { type: 'STATUS_REPORT' };
  const tooMany = packValue({ ...payload, waiting: Array.from({ length: STATUS_WAITING_LIMIT + 1 }, (_, i) => i + 1) });
  t.throws(() => decodeMessage({ type: frameOf(report).type, payload: tooMany }), {
    message: /STATUS_REPORT.waiting must be an array of at most 1000/,
  });
});

test('CLOSE from the monitor asks the Lottery once and answers CLOSED, then closes; from an agency it is UNAUTHORIZED', (t) => {
  const monitor = protocol({ identity: { kind: 'monitor' } });
  t.deepEqual(
    monitor.frame(frameOf({ type: 'CLOSE' })).map((action) => action.kind),
    ['closeSales'],
  );
  t.deepEqual(monitor.frame(frameOf({ type: 'CLOSE' })), [], 'a second CLOSE while the first is asked adds nothing');
  const answered = monitor.closeAnswered({ at: '2026-12-04T21:00:00.000Z', unfinished: [2, 4] });
  t.deepEqual(said(answered), [{ type: 'CLOSED', at: '2026-12-04T21:00:00.000Z', unfinished: [2, 4] }]);
  t.is(answered.at(-1)?.kind, 'close');
  t.like(said(protocol({ identity: { kind: 'monitor' } }).closeAnswered(null)), [{ type: 'ERROR', code: ErrorCode.DRAW_DONE }]);
  const agency = protocol({ identity: { kind: 'agency', agency: 3 } }).frame(frameOf({ type: 'CLOSE' }));
  t.like(said(agency), [{ type: 'ERROR', code: ErrorCode.UNAUTHORIZED }]);
  t.regex((said(agency)[0] as { message: string }).message, /agency-3's: only the monitor's may close sales/);
  const plaintext = protocol().frame(frameOf({ type: 'CLOSE' }));
  t.like(said(plaintext), [{ type: 'ERROR', code: ErrorCode.UNAUTHORIZED }], 'a plaintext server has no monitor to close');
  t.regex((said(plaintext)[0] as { message: string }).message, /without TLS: it closes only at --close-at/);
});

test('after the close, an agency that had not finished may ask WINNERS without FINISH', (t) => {
  const machine = admitted(2, { ...FRESH, closedAt: '2026-12-04T21:00:00.000Z', stored: 0 });
  t.deepEqual(
    machine.frame(frameOf({ type: 'WINNERS' })).filter((action) => action.kind === 'winners'),
    [{ kind: 'winners', agency: 2 }],
  );
  t.like(said(admitted().frame(frameOf({ type: 'WINNERS' }))), [{ type: 'ERROR', code: ErrorCode.UNEXPECTED_MESSAGE }]);
});

test("an agency's certificate speaks for its own agency only", (t) => {
  const other = protocol({ identity: { kind: 'agency', agency: 3 } });
  const refused = other.frame(frameOf({ type: 'HELLO', agency: 2 }));
  t.like(said(refused), [{ type: 'ERROR', code: ErrorCode.UNAUTHORIZED }]);
  t.regex((said(refused)[0] as { message: string }).message, /cannot speak for agency 2/);
  const own = protocol({ identity: { kind: 'agency', agency: 2 } });
  t.deepEqual(own.frame(frameOf({ type: 'HELLO', agency: 2 })), [{ kind: 'welcome', agency: 2 }]);
});

test('a plainly encoded BETS takes the fast path: its rows straight from the frame, as the general path writes them', (t) => {
  const bets = [bet('Ana', 'Gómez', '111'), bet('Beto', 'Núñez', '222', 7574)];
  const fast = appended(admitted(2).frame(frameOf({ type: 'BETS', offset: 4, bets })));
  t.like(fast.request, { agency: 2, offset: 4, count: 2 });
  t.deepEqual(Buffer.from(fast.request.rows!), Buffer.from(encodeCanonicalLines(2, bets)));
  t.is(fast.bets, undefined, 'no bet is kept: the fast path makes no object per bet');
  // When each bet is logged, the general path keeps the bets for the log.
  const general = appended(admitted(2, FRESH, { logsEachBet: true }).frame(frameOf({ type: 'BETS', offset: 4, bets })));
  t.deepEqual(Buffer.from(general.request.rows!), Buffer.from(encodeCanonicalLines(2, bets)));
  t.deepEqual(general.bets, bets);
});

test('a BETS with an invalid bet gets ERROR INVALID_BET with offset and next, hands the Store none of its rows, keeps the connection, and the next batch is stored', (t) => {
  const machine = admitted(1, FRESH, { agencies: 1 });
  const refused = [bet('Ana', 'Gómez', '111'), ['Beto', 'Núñez', '222', '2000-02-30', 2] as WireBet, bet('Ceci', 'Pérez', '333')];
  const { batch, answer } = betsAnswered(machine, 0, refused, { status: 'invalid', next: 3 });
  t.deepEqual(batch.request, { agency: 1, offset: 0, count: 3, rows: null }, 'nothing of the refused batch is to be stored');
  const [error] = said(answer);
  t.like(error, { type: 'ERROR', code: ErrorCode.INVALID_BET, offset: 0, next: 3 });
  t.regex((error as { message: string }).message, /bet 1 of the batch: birthdate 2000-02-30 is not a real date/);
  t.false(machine.closing, 'the connection stays open');
  t.false(kinds(answer).includes('close'));
  t.like(logged(answer), [{ level: 'warn', action: 'apuesta_recibida', result: 'fail', cantidad: 3, offset: 0 }]);

  t.deepEqual(said(machine.frame(frameOf({ type: 'PING' }))), [{ type: 'PONG' }]);
  const accepted = [bet('Dora', 'Ibáñez', '444'), bet('Eloy', 'Muñoz', '555')];
  const next = betsAnswered(machine, 3, accepted, { status: 'stored', next: 5, stored: 2 });
  t.deepEqual(Buffer.from(next.batch.request.rows!), Buffer.from(encodeCanonicalLines(1, accepted)));
  t.deepEqual(said(next.answer), [{ type: 'ACK', offset: 5 }]);
  t.deepEqual(machine.frame(frameOf({ type: 'FINISH', total: 5, digest: uploadDigestOf(1, accepted) })), [{ kind: 'settle' }]);
  t.deepEqual(machine.settled(), [{ kind: 'finish', agency: 1, total: 5, digest: uploadDigestOf(1, accepted) }]);
  t.deepEqual(said(machine.finishAnswered({ status: 'finished', total: 5, digest: uploadDigestOf(1, accepted) })), [
    { type: 'ACK', offset: 5 },
  ]);
});

test('a batch sent again, which the Store finds a duplicate, is acknowledged with the same ACK offset', (t) => {
  const machine = admitted(1);
  const batch = [bet('Ana', 'Gómez', '111'), bet('Beto', 'Núñez', '222')];
  t.deepEqual(said(betsAnswered(machine, 0, batch, { status: 'stored', next: 2, stored: 2 }).answer), [{ type: 'ACK', offset: 2 }]);
  const again = betsAnswered(machine, 0, batch, { status: 'duplicate', next: 2 });
  t.like(again.batch.request, { agency: 1, offset: 0, count: 2 });
  t.deepEqual(said(again.answer), [{ type: 'ACK', offset: 2 }]);
  t.deepEqual(logged(again.answer), [
    { level: 'info', action: 'apuesta_recibida', result: 'success', cantidad: 0, duplicadas: 2, offset: 0 },
  ]);
  // Also on a new connection, welcomed where the agency stands.
  const reconnected = admitted(1, { offset: 2, finished: false, drawn: false });
  t.deepEqual(said(betsAnswered(reconnected, 0, batch, { status: 'duplicate', next: 2 }).answer), [{ type: 'ACK', offset: 2 }]);
});

test('a batch that overlaps the bets already taken is acknowledged past its end, and only its new tail is logged as stored', (t) => {
  const machine = admitted(1, FRESH, { logsEachBet: true });
  const bets = [bet('Ana', 'Gómez', '111'), bet('Beto', 'Núñez', '222'), bet('Ceci', 'Pérez', '333'), bet('Dora', 'Ibáñez', '444')];
  t.deepEqual(said(betsAnswered(machine, 0, bets.slice(0, 2), { status: 'stored', next: 2, stored: 2 }).answer), [
    { type: 'ACK', offset: 2 },
  ]);
  const { answer } = betsAnswered(machine, 1, bets.slice(1), { status: 'stored', next: 4, stored: 2 });
  t.deepEqual(said(answer), [{ type: 'ACK', offset: 4 }]);
  t.deepEqual(logged(answer), [
    { level: 'info', action: 'apuesta_recibida', result: 'success', cantidad: 2 },
    { level: 'debug', action: 'apuesta_almacenada', result: 'success', dni: '333', numero: 1 },
    { level: 'debug', action: 'apuesta_almacenada', result: 'success', dni: '444', numero: 1 },
  ]);
});

test('a batch that starts past the next offset gets ERROR OFFSET_GAP naming the offset expected, and the connection is closed', (t) => {
  const machine = admitted(1);
  t.deepEqual(
    said(
      betsAnswered(machine, 0, [bet('Ana', 'Gómez', '111'), bet('Beto', 'Núñez', '222')], { status: 'stored', next: 2, stored: 2 }).answer,
    ),
    [{ type: 'ACK', offset: 2 }],
  );
  const message = 'batch starts at 5 but the next bet expected is 2';
  const { answer } = betsAnswered(machine, 5, [bet('Ceci', 'Pérez', '333')], {
    status: 'rejected',
    code: ErrorCode.OFFSET_GAP,
    message,
    next: 2,
  });
  t.deepEqual(said(answer), [{ type: 'ERROR', code: ErrorCode.OFFSET_GAP, message, offset: 5, next: 2 }]);
  t.is(answer.at(-1)?.kind, 'close');
  t.true(machine.closing);
  t.deepEqual(machine.frame(frameOf({ type: 'PING' })), [], 'nothing more is handled once closing');
});

test('FINISH goes to the Lottery only once the batches before it are answered, and not at all if one of them closed the connection', (t) => {
  const machine = admitted(1);
  const pending = appended(machine.frame(frameOf({ type: 'BETS', offset: 0, bets: [bet('Ana', 'Gómez', '111')] })));
  const digest = uploadDigestOf(1, [bet('Ana', 'Gómez', '111')]);
  t.deepEqual(machine.frame(frameOf({ type: 'FINISH', total: 1, digest })), [{ kind: 'settle' }], 'FINISH waits');
  machine.stored(pending, { status: 'rejected', code: ErrorCode.AGENCY_FINISHED, message: 'agency 1 has finished', next: 0 });
  t.deepEqual(machine.settled(), [], 'the connection closed: FINISH is not asked');

  const open = admitted(1);
  const answered = appended(open.frame(frameOf({ type: 'BETS', offset: 0, bets: [bet('Ana', 'Gómez', '111')] })));
  t.deepEqual(open.frame(frameOf({ type: 'FINISH', total: 1, digest })), [{ kind: 'settle' }]);
  open.stored(answered, { status: 'stored', next: 1, stored: 1 });
  t.deepEqual(open.settled(), [{ kind: 'finish', agency: 1, total: 1, digest }]);
});

test('FINISH with a wrong total gets ERROR TOTAL_MISMATCH and the connection closed, and the right total is accepted afterwards', (t) => {
  const bets = [bet('Ana', 'Gómez', '111'), bet('Beto', 'Núñez', '222')];
  const machine = admitted(1, { offset: 2, finished: false, drawn: false });
  machine.frame(frameOf({ type: 'FINISH', total: 3, digest: uploadDigestOf(1, bets) }));
  t.deepEqual(machine.settled(), [{ kind: 'finish', agency: 1, total: 3, digest: uploadDigestOf(1, bets) }]);
  const message = 'FINISH says 3 bets but the server has taken 2';
  const refused = machine.finishAnswered({ status: 'rejected', code: ErrorCode.TOTAL_MISMATCH, message, next: 2 });
  t.deepEqual(said(refused), [{ type: 'ERROR', code: ErrorCode.TOTAL_MISMATCH, message, next: 2 }]);
  t.deepEqual(logged(refused), [{ level: 'warn', action: 'finalizar', result: 'fail', code: ErrorCode.TOTAL_MISMATCH, error: message }]);
  t.is(refused.at(-1)?.kind, 'close');

  const again = admitted(1, { offset: 2, finished: false, drawn: false });
  again.frame(frameOf({ type: 'FINISH', total: 2, digest: uploadDigestOf(1, bets) }));
  again.settled();
  t.deepEqual(said(again.finishAnswered({ status: 'finished', total: 2, digest: uploadDigestOf(1, bets) })), [{ type: 'ACK', offset: 2 }]);
  t.false(again.closing);
});

test("WINNERS before this agency's FINISH gets ERROR UNEXPECTED_MESSAGE and the connection is closed", (t) => {
  const machine = admitted(1);
  const actions = machine.frame(frameOf({ type: 'WINNERS' }));
  t.like(said(actions), [{ type: 'ERROR', code: ErrorCode.UNEXPECTED_MESSAGE, message: "WINNERS before this agency's FINISH" }]);
  t.is(actions.at(-1)?.kind, 'close');
});

test('WINNERS is held until the Lottery answers: PING is answered meanwhile, a second WINNERS asks nothing more, and the answer is RESULT', (t) => {
  const machine = admitted(1, { offset: 2, finished: true, drawn: false, total: 2, digest: uploadDigestOf(1, []) });
  t.deepEqual(machine.frame(frameOf({ type: 'WINNERS' })), [{ kind: 'winners', agency: 1 }]);
  t.true(machine.awaitingWinners);
  t.deepEqual(said(machine.frame(frameOf({ type: 'PING' }))), [{ type: 'PONG' }]);
  t.deepEqual(machine.frame(frameOf({ type: 'WINNERS' })), []);
  const answer = machine.winnersAnswered({ status: 'drawn', documents: ['111'] });
  t.deepEqual(said(answer), [{ type: 'RESULT', documents: ['111'], last: true }]);
  t.deepEqual(logged(answer), [{ level: 'info', action: 'consulta_ganadores', result: 'success', cant_ganadores: 1 }]);
  t.false(machine.awaitingWinners);
});

test('a FINISH accepted on this connection lets WINNERS be asked', (t) => {
  const machine = admitted(1);
  machine.frame(frameOf({ type: 'FINISH', total: 0, digest: uploadDigestOf(1, []) }));
  machine.settled();
  machine.finishAnswered({ status: 'finished', total: 0, digest: uploadDigestOf(1, []) });
  t.deepEqual(machine.frame(frameOf({ type: 'WINNERS' })), [{ kind: 'winners', agency: 1 }]);
});

test('2,000 winners are answered in RESULT frames of at most 8192 bytes, only the last saying last', (t) => {
  const machine = admitted(1, { offset: 0, finished: true, drawn: true });
  machine.frame(frameOf({ type: 'WINNERS' }));
  const documents = Array.from({ length: 2000 }, (_, i) => String(30_000_000 + i));
  const answer = machine.winnersAnswered({ status: 'drawn', documents });
  const frames = answer.flatMap((action) => (action.kind === 'write' ? [action.frame] : []));
  const documentBytes = documents.reduce((sum, document) => sum + packValue(document).length, 0);
  t.true(frames.length >= Math.ceil(documentBytes / MAX_PAYLOAD_SIZE) && frames.length >= 3, `${frames.length} frames`);
  for (const frame of frames) t.true(frame.length <= MAX_FRAME_SIZE, `a frame of ${frame.length} bytes`);
  const results = said(answer) as Array<{ type: 'RESULT'; documents: string[]; last: boolean }>;
  t.deepEqual(
    results.map((result) => result.last),
    frames.map((_, i) => i === frames.length - 1),
  );
  t.deepEqual(
    results.flatMap((result) => result.documents),
    documents,
  );
});

test('a WINNERS the Lottery refuses is answered with its ERROR and the connection is closed', (t) => {
  const machine = admitted(1, { offset: 0, finished: true, drawn: false });
  machine.frame(frameOf({ type: 'WINNERS' }));
  const answer = machine.winnersAnswered({ status: 'rejected', code: ErrorCode.INTERNAL, message: 'the connection that asked has closed' });
  t.deepEqual(said(answer), [{ type: 'ERROR', code: ErrorCode.INTERNAL, message: 'the connection that asked has closed' }]);
  t.deepEqual(kinds(answer), ['stopProgress', 'send', 'close']);
});

test('an agency that shows its progress is told WAITING while its WINNERS is held, on each change only', (t) => {
  const machine = protocol();
  machine.frame(frameOf({ type: 'HELLO', agency: 1, progress: true }));
  machine.welcomed({ offset: 0, finished: true, drawn: false });
  t.deepEqual(kinds(machine.frame(frameOf({ type: 'WINNERS' }))), ['winners', 'startProgress']);
  t.deepEqual(said(machine.progressed({ finished: 1, agencies: 3 })), [{ type: 'WAITING', finished: 1, agencies: 3 }]);
  t.deepEqual(machine.progressed({ finished: 1, agencies: 3 }), [], 'no change, nothing said');
  t.deepEqual(said(machine.progressed({ finished: 2, agencies: 3 })), [{ type: 'WAITING', finished: 2, agencies: 3 }]);
  t.deepEqual(kinds(machine.winnersAnswered({ status: 'drawn', documents: [] })), ['stopProgress', 'write', 'log']);
  t.deepEqual(machine.progressed({ finished: 3, agencies: 3 }), [], 'nothing once answered');

  const quiet = admitted(1, { offset: 0, finished: true, drawn: false });
  t.deepEqual(kinds(quiet.frame(frameOf({ type: 'WINNERS' }))), ['winners'], 'without progress in HELLO, no WAITING');
});

test('stop answers a held WINNERS with SERVER_STOPPING and closes; without one it only closes', (t) => {
  const holding = admitted(1, { offset: 0, finished: true, drawn: false });
  holding.frame(frameOf({ type: 'WINNERS' }));
  const stopped = holding.stop('the server is stopping');
  t.deepEqual(said(stopped), [{ type: 'ERROR', code: ErrorCode.SERVER_STOPPING, message: 'the server is stopping' }]);
  t.is(stopped.at(-1)?.kind, 'close');
  t.deepEqual(holding.disconnected(), [{ kind: 'withdraw' }], 'the Lottery is told to drop the request');

  const idle = admitted(1);
  t.deepEqual(idle.stop('the server is stopping'), [{ kind: 'close' }]);
  t.deepEqual(idle.disconnected(), []);
});

test('a connection replaced by a newer one is told REPLACED, naming its agency, and closed', (t) => {
  const actions = admitted(4).replaced();
  t.deepEqual(said(actions), [
    {
      type: 'ERROR',
      code: ErrorCode.REPLACED,
      message: 'a newer connection took over agency 4: another process is uploading as this agency',
    },
  ]);
  t.is(actions.at(-1)?.kind, 'close');
  // Where the newer connection comes from, when the server knows it.
  t.deepEqual(said(admitted(4).replaced('10.0.0.9:51234')), [
    {
      type: 'ERROR',
      code: ErrorCode.REPLACED,
      message: 'a newer connection from 10.0.0.9:51234 took over agency 4: another process is uploading as this agency',
    },
  ]);
});

test("a failure that is not the peer's fault is ERROR INTERNAL; once closing, nothing more is said or logged", (t) => {
  const machine = admitted(1);
  t.like(said(machine.fail(new Error('the store went away'))), [
    { type: 'ERROR', code: ErrorCode.INTERNAL, message: 'the store went away' },
  ]);
  t.deepEqual(machine.fail(new ProtocolError(ErrorCode.TIMEOUT, 'late')), []);
  t.deepEqual(machine.peerEnded(), []);
  t.deepEqual(said(machine.finishAnswered({ status: 'finished', total: 0, digest: uploadDigestOf(1, []) })), []);
});

test('a peer that ends its side closes the connection with nothing said; a connection cut off says nothing more', (t) => {
  const ended = admitted(1);
  t.deepEqual(ended.peerEnded(), [{ kind: 'close' }]);
  const cut = admitted(1);
  const actions = cut.repliesUnread(70_000, 5_000);
  t.deepEqual(said(actions), []);
  t.false(
    actions.some((action) => action.kind === 'close'),
    'cut off, not closed in turn: nothing more can leave',
  );
  t.deepEqual(logged(actions), [
    {
      level: 'warn',
      action: 'conexion',
      result: 'fail',
      peer: PEER,
      code: ErrorCode.TIMEOUT,
      error: '70000 bytes of replies unread for 5 s',
    },
  ]);
  t.true(cut.closing);
  t.deepEqual(cut.fail(new ProtocolError(ErrorCode.TIMEOUT, 'late')), []);
  t.deepEqual(cut.frame(frameOf({ type: 'PING' })), []);
});

for (const [clock, expire, message] of [
  ['the handshake deadline', (machine: SessionProtocol) => machine.handshakeExpired(1_500), 'no HELLO within 1.5 s'],
  ['the idle timer between frames', (machine: SessionProtocol) => machine.idleExpired(30_000, 0), 'no traffic for 30 s'],
  [
    'the idle timer within a frame',
    (machine: SessionProtocol) => machine.idleExpired(30_000, 12),
    'a frame cut off after 12 bytes for 30 s',
  ],
  ['the frame timer', (machine: SessionProtocol) => machine.frameExpired(500, 9), 'a frame not complete within 0.5 s: 9 bytes of it came'],
] as const) {
  test(`when ${clock} runs out the peer is told TIMEOUT, it is logged, and the connection closes`, (t) => {
    const actions = expire(protocol());
    t.deepEqual(said(actions), [{ type: 'ERROR', code: ErrorCode.TIMEOUT, message }]);
    t.deepEqual(logged(actions), [
      { level: 'warn', action: 'conexion', result: 'fail', peer: PEER, code: ErrorCode.TIMEOUT, error: message },
    ]);
    t.is(actions.at(-1)?.kind, 'close');
  });
}
