// The ledger: every decision on a batch and a FINISH, the draft that decides
// a group against the state its earlier work leaves, and apply, which both
// the Store and recovery use to turn records into state.
import test from 'ava';
import fc from 'fast-check';
import { decideAppend, decideFinish, drawDue, type AppendOutcome, type FinishOutcome } from '../src/ledger/decisions.ts';
import { Ledger } from '../src/ledger/ledger.ts';
import type { AgencyState, LedgerRecord } from '../src/ledger/records.ts';
import { contradictsStoredLottery } from '../src/ledger/stored-lottery.ts';
import { ErrorCode } from '../src/errors.ts';

const at = (next: number, stored = next, finished = false): AgencyState => ({ next, stored, finished });
const batch = (offset: number, count: number, valid = true) => ({ agency: 1, offset, count, valid });

test('a batch at the next offset is stored whole', (t) => {
  t.deepEqual(decideAppend(batch(10, 5), at(10), false), { outcome: { status: 'stored', next: 15, stored: 5 }, after: at(15) });
});

test('a batch that overlaps what is stored stores only its new tail', (t) => {
  t.deepEqual(decideAppend(batch(8, 5), at(10, 9), false), { outcome: { status: 'stored', next: 13, stored: 3 }, after: at(13, 12) });
});

test('a batch wholly before the next offset is a duplicate and changes nothing', (t) => {
  t.deepEqual(decideAppend(batch(5, 5), at(10), false), { outcome: { status: 'duplicate', next: 10 }, after: at(10) });
  t.deepEqual(decideAppend(batch(0, 3, false), at(10), false).outcome, { status: 'duplicate', next: 10 });
});

test('an invalid batch uses its offsets and stores nothing', (t) => {
  t.deepEqual(decideAppend(batch(10, 5, false), at(10, 7), false), { outcome: { status: 'invalid', next: 15 }, after: at(15, 7) });
});

test('a batch past the next offset is refused with OFFSET_GAP', (t) => {
  const { outcome, after } = decideAppend(batch(11, 5), at(10), false);
  t.like(outcome, { status: 'rejected', code: ErrorCode.OFFSET_GAP, next: 10 });
  t.deepEqual(after, at(10));
});

test('a finished agency and a drawn lottery take no more bets', (t) => {
  t.like(decideAppend(batch(10, 5), at(10, 10, true), false).outcome, { status: 'rejected', code: ErrorCode.AGENCY_FINISHED, next: 10 });
  t.like(decideAppend(batch(10, 5), at(10), true).outcome, { status: 'rejected', code: ErrorCode.DRAW_DONE, next: 10 });
  // The draw is said first: it is what the agency can do nothing about.
  t.like(decideAppend(batch(10, 5), at(10, 10, true), true).outcome, { code: ErrorCode.DRAW_DONE });
});

test('a FINISH with every offset and the digest of the stored rows is accepted', (t) => {
  t.deepEqual(decideFinish(1, { total: 10, digest: 'd' }, at(10), undefined, 'd'), { status: 'finished', total: 10, digest: 'd' });
});

test('a FINISH with another total is refused with TOTAL_MISMATCH, with another digest with DIGEST_MISMATCH', (t) => {
  t.like(decideFinish(1, { total: 9, digest: 'd' }, at(10), undefined, 'd'), {
    status: 'rejected',
    code: ErrorCode.TOTAL_MISMATCH,
    next: 10,
  });
  t.like(decideFinish(1, { total: 10, digest: 'e' }, at(10), undefined, 'd'), {
    status: 'rejected',
    code: ErrorCode.DIGEST_MISMATCH,
    next: 10,
  });
});

test('a finished agency may repeat its FINISH, but not with other values', (t) => {
  const recorded = { total: 10, digest: 'd' };
  t.deepEqual(decideFinish(1, recorded, at(10, 10, true), recorded, 'd'), { status: 'finished', total: 10, digest: 'd' });
  const other = decideFinish(1, { total: 10, digest: 'e' }, at(10, 10, true), recorded, 'd');
  t.like(other, { status: 'rejected', code: ErrorCode.AGENCY_FINISHED, next: 10 });
  t.regex((other as { message: string }).message, /already finished with 10 bets and digest d, not 10 and e/);
});

test('the draw is due once agencies 1..N have all finished, and only until it is made', (t) => {
  const finished = new Set([1, 2, 4]);
  t.false(drawDue(false, 3, (agency) => finished.has(agency)));
  t.true(drawDue(false, 2, (agency) => finished.has(agency)));
  t.false(drawDue(true, 2, (agency) => finished.has(agency)));
});

test('a draft decides a group against the state its earlier work leaves, and the ledger changes only when its record is applied', (t) => {
  const ledger = new Ledger();
  const draft = ledger.draft();
  t.like(draft.append({ agency: 1, offset: 0, count: 5, valid: true }), { status: 'stored', next: 5 });
  t.like(draft.append({ agency: 1, offset: 5, count: 5, valid: true }), { status: 'stored', next: 10 });
  t.like(draft.append({ agency: 1, offset: 0, count: 5, valid: true }), { status: 'duplicate', next: 10 });
  t.deepEqual(draft.finish(1, { total: 10, digest: 'd' }, 'd'), {
    outcome: { status: 'finished', total: 10, digest: 'd' },
    finishedNow: 1,
  });
  t.like(draft.append({ agency: 1, offset: 10, count: 1, valid: true }), { status: 'rejected', code: ErrorCode.AGENCY_FINISHED });
  t.deepEqual(
    draft.finish(1, { total: 10, digest: 'd' }, 'd'),
    { outcome: { status: 'finished', total: 10, digest: 'd' } },
    'a repeat counts nothing',
  );
  t.deepEqual(ledger.state(1), at(0), 'nothing applied yet');
  const record = draft.record('T')!;
  t.deepEqual(record, { kind: 'commit', agencies: { 1: { next: 10, stored: 10 } }, finished: { 1: { total: 10, digest: 'd' } }, at: 'T' });
  ledger.apply(record);
  t.deepEqual(ledger.state(1), at(10, 10, true));
  t.deepEqual(ledger.finishOf(1), { total: 10, digest: 'd' });
  t.is(ledger.bets, 10);
  t.is(ledger.finishedCount, 1);
  t.true(ledger.drawDue(1));
  t.is(ledger.draft().record(), undefined, 'a group that changes nothing has no record');
});

test('a draft that only refuses has no record; a draw applied refuses every later batch', (t) => {
  const ledger = new Ledger();
  const draft = ledger.draft();
  draft.append({ agency: 2, offset: 3, count: 1, valid: true });
  draft.finish(2, { total: 1, digest: 'd' }, 'd');
  t.is(draft.record(), undefined);
  ledger.apply({ kind: 'draw', winners: { 1: [], 2: ['7'] }, at: 'T' });
  t.true(ledger.drawn);
  t.false(ledger.drawDue(2));
  t.like(ledger.draft().append({ agency: 2, offset: 0, count: 1, valid: true }), { code: ErrorCode.DRAW_DONE });
});

test('the FINISHes of one group count the agencies finished in the order they are decided', (t) => {
  const ledger = new Ledger();
  ledger.apply({ kind: 'commit', agencies: { 9: { next: 0, stored: 0 } }, finished: { 9: { total: 0, digest: 'e' } }, at: 'T' });
  const draft = ledger.draft();
  t.is(draft.finish(5, { total: 0, digest: 'e' }, 'e').finishedNow, 2);
  t.is(draft.finish(3, { total: 0, digest: 'e' }, 'e').finishedNow, 3);
  t.deepEqual(Object.keys(draft.record()!.finished!), ['3', '5']);
});

test('decideAlone decides as a group of one and applies at once, as a stand-in for the Store does', (t) => {
  const ledger = new Ledger();
  t.deepEqual(
    ledger.decideAlone((draft) => draft.append({ agency: 4, offset: 0, count: 3, valid: true })),
    { status: 'stored', next: 3, stored: 3 },
  );
  t.deepEqual(ledger.state(4), at(3));
  t.like(
    ledger.decideAlone((draft) => draft.append({ agency: 4, offset: 5, count: 1, valid: true })),
    { status: 'rejected', code: ErrorCode.OFFSET_GAP, next: 3 },
  );
  t.is(ledger.decideAlone((draft) => draft.finish(4, { total: 3, digest: 'd' }, 'd')).finishedNow, 1);
  t.deepEqual(ledger.state(4), at(3, 3, true));
});

test('a stored lottery contradicts an --agencies that it was not drawn for or that leaves out an agency with bets', (t) => {
  const drawn = { agencies: { 1: at(3, 3, true), 2: at(4, 4, true) }, winners: { 1: ['5'], 2: [] } };
  t.is(contradictsStoredLottery(drawn, 2, 'd'), undefined);
  t.regex(contradictsStoredLottery(drawn, 3, 'd')!, /drawn for 2 agencies, but this server is set for 3/);
  const underway = { agencies: { 1: at(3), 4: at(0, 0, true), 7: at(0) }, winners: null };
  t.is(contradictsStoredLottery(underway, 4, 'd'), undefined);
  t.regex(contradictsStoredLottery(underway, 3, 'd')!, /agency 4, but .* --agencies 4 or more/);
});

// Property tests: random work, cut into random groups.
type Work =
  | { kind: 'append'; agency: number; offset: number; count: number; valid: boolean }
  | { kind: 'finish'; agency: number; total: number; honest: boolean };
const agencyId = fc.integer({ min: 1, max: 3 });
const work: fc.Arbitrary<Work> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      agency: agencyId,
      offset: fc.nat(30),
      count: fc.integer({ min: 1, max: 8 }),
      valid: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('finish' as const), agency: agencyId, total: fc.nat(30), honest: fc.boolean() }) },
);
/** Work in groups: each inner array is decided in one draft. */
const groups = fc.array(fc.array(work, { minLength: 1, maxLength: 6 }), { maxLength: 20 });

/** A stand-in for an upload digest: the stored count names the rows, as offsets are stored in order. */
const digestOf = (state: AgencyState) => `rows:${state.stored}`;

/** Runs the groups through the ledger: the outcomes and the records committed. */
function run(ledger: Ledger, grouped: Work[][]): { outcomes: Array<AppendOutcome | FinishOutcome>; records: LedgerRecord[] } {
  const outcomes: Array<AppendOutcome | FinishOutcome> = [];
  const records: LedgerRecord[] = [];
  for (const group of grouped) {
    const draft = ledger.draft();
    for (const one of group) {
      if (one.kind === 'append') outcomes.push(draft.append(one));
      else {
        const stored = digestOf(draft.state(one.agency));
        outcomes.push(draft.finish(one.agency, { total: one.total, digest: one.honest ? stored : 'forged' }, stored).outcome);
      }
    }
    const record = draft.record();
    if (record !== undefined) {
      ledger.apply(record);
      records.push(record);
    }
  }
  return { outcomes, records };
}

const stateOf = (ledger: Ledger) => ({
  agencies: [...ledger.agencies()],
  finishes: [1, 2, 3].map((agency) => ledger.finishOf(agency)),
  bets: ledger.bets,
  finished: ledger.finishedCount,
});

test('the records a ledger commits, replayed through apply from empty, give the same state', (t) => {
  fc.assert(
    fc.property(groups, (grouped) => {
      const live = new Ledger();
      const { records } = run(live, grouped);
      const replayed = new Ledger();
      // Through JSON, as the journal keeps them.
      for (const record of records) replayed.apply(JSON.parse(JSON.stringify(record)) as LedgerRecord);
      t.deepEqual(stateOf(replayed), stateOf(live));
    }),
    { numRuns: 500, seed: 20261204 },
  );
});

test('a group decides as the same work one at a time would: grouping changes no outcome', (t) => {
  fc.assert(
    fc.property(groups, (grouped) => {
      const together = run(new Ledger(), grouped);
      const alone = run(
        new Ledger(),
        grouped.flat().map((one) => [one]),
      );
      t.deepEqual(together.outcomes, alone.outcomes);
    }),
    { numRuns: 500, seed: 20261205 },
  );
});

test('offsets only grow, stored bets never outnumber them, and a finished agency stays finished with what it finished with', (t) => {
  fc.assert(
    fc.property(groups, (grouped) => {
      const ledger = new Ledger();
      let before = new Map<number, AgencyState>();
      for (const group of grouped) {
        run(ledger, [group]);
        const now = ledger.agencies();
        for (const [agency, state] of now) {
          const was = before.get(agency) ?? at(0);
          t.true(state.next >= was.next && state.stored >= was.stored && state.stored <= state.next);
          if (was.finished) t.deepEqual(state, was);
        }
        t.is(
          ledger.bets,
          [...now.values()].reduce((sum, { stored }) => sum + stored, 0),
        );
        t.is(ledger.finishedCount, [...now.values()].filter(({ finished }) => finished).length);
        before = now;
      }
    }),
    { numRuns: 300, seed: 20261206 },
  );
});

test('the close refuses every later batch and FINISH of an agency that had not finished with SALES_CLOSED, the time and what was stored; the draw is due at once', (t) => {
  const ledger = new Ledger();
  ledger.decideAlone((draft) => draft.append({ agency: 1, offset: 0, count: 3, valid: true }));
  ledger.decideAlone((draft) => draft.append({ agency: 2, offset: 0, count: 2, valid: true }));
  ledger.decideAlone((draft) => draft.finish(2, { total: 2, digest: 'd' }, 'd'));
  t.false(ledger.drawDue(3));
  const close = ledger.decideClose('2026-12-04T21:00:00.000Z', 3)!;
  t.deepEqual(close, {
    kind: 'close',
    at: '2026-12-04T21:00:00.000Z',
    unfinished: { 1: { next: 3, stored: 3 }, 3: { next: 0, stored: 0 } },
  });
  ledger.apply(close);
  t.true(ledger.drawDue(3));
  t.is(ledger.closedAt, '2026-12-04T21:00:00.000Z');
  t.is(ledger.decideClose('2026-12-04T22:00:00.000Z', 3), undefined, 'a second close changes nothing');
  const refused = ledger.draft().append({ agency: 1, offset: 3, count: 1, valid: true });
  t.like(refused, { status: 'rejected', code: ErrorCode.SALES_CLOSED, next: 3 });
  t.regex(
    (refused as { message: string }).message,
    /^sales closed at 2026-12-04T21:00:00.000Z: 3 of agency 1's bets were stored before it/,
  );
  t.like(ledger.draft().finish(1, { total: 3, digest: 'x' }, 'x').outcome, { status: 'rejected', code: ErrorCode.SALES_CLOSED });
  t.like(
    ledger.draft().finish(2, { total: 2, digest: 'd' }, 'd').outcome,
    { status: 'finished' },
    'a finished agency may repeat its FINISH',
  );
  ledger.apply({ kind: 'draw', winners: { 1: [], 2: [], 3: [] }, at: '2026-12-04T21:00:01.000Z' });
  t.false(ledger.drawDue(3));
  t.deepEqual(ledger.times().close, '2026-12-04T21:00:00.000Z');
  t.deepEqual(ledger.times().draw, '2026-12-04T21:00:01.000Z');
  t.is(new Ledger().decideClose('T', 1)?.kind, 'close');
});

test("commit times: each agency's first and last commit as the records say", (t) => {
  const ledger = new Ledger();
  ledger.apply({ kind: 'commit', agencies: { 1: { next: 1, stored: 1 } }, at: 'A' });
  ledger.apply({ kind: 'commit', agencies: { 1: { next: 2, stored: 2 }, 2: { next: 1, stored: 1 } }, at: 'B' });
  ledger.apply({ kind: 'commit', agencies: { 2: { next: 2, stored: 2 } }, at: 'C' });
  t.deepEqual(
    [...ledger.times().agencies],
    [
      [1, { first: 'A', last: 'B' }],
      [2, { first: 'B', last: 'C' }],
    ],
  );
});
