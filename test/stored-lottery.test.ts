// A server started on a data dir that already holds a lottery: it says which
// lottery it serves, and refuses an --agencies that contradicts what is
// stored instead of answering wrong winners or refusing agencies as unknown.
import test from 'ava';
import { join } from 'node:path';
import { contradictsStoredLottery } from '../src/ledger/index.ts';
import type { StoreSnapshot } from '../src/actors/store-api.ts';
import { startProgram } from '../src/harness/lottery-processes.ts';
import { agencyFiles, agencyFor, serverFor, within } from './helpers/lottery-fixtures.ts';

const state = (next: number, finished = false) => ({ next, stored: next, finished });
const snapshot = (agencies: StoreSnapshot['agencies'], winners: StoreSnapshot['winners'] = null): StoreSnapshot => ({
  agencies,
  winners,
  bets: Object.values(agencies).reduce((sum, { stored }) => sum + stored, 0),
  chain: '',
});

test('a draw made for N agencies can only be served with N', (t) => {
  const drawn = snapshot({ 1: state(3, true), 2: state(4, true) }, { 1: ['5'], 2: [] });
  t.is(contradictsStoredLottery(drawn, 2, 'd'), undefined);
  t.regex(
    contradictsStoredLottery(drawn, 3, 'd')!,
    /^d holds a lottery drawn for 2 agencies, but this server is set for 3 \(--agencies\): start with that number/,
  );
  t.regex(contradictsStoredLottery(drawn, 1, 'd')!, /drawn for 2 agencies/);
});

test('bets or a finish from an agency past N contradict N; fewer agencies so far do not', (t) => {
  const underway = snapshot({ 1: state(10), 4: state(5, true), 5: state(2) });
  t.is(contradictsStoredLottery(underway, 5, 'd'), undefined);
  t.is(contradictsStoredLottery(underway, 9, 'd'), undefined);
  t.regex(
    contradictsStoredLottery(underway, 3, 'd')!,
    /^d holds bets from agency 4, 5, but this server is set for 3 agencies \(--agencies\): start with --agencies 5 or more/,
  );
  t.is(contradictsStoredLottery(snapshot({ 7: state(0) }), 3, 'd'), undefined, 'an agency that never stored a bet is no contradiction');
});

test('a restart says it serves a drawn lottery, and refuses another number of agencies', async (t) => {
  const { dir, files } = await agencyFiles(t, [{ count: 20, winnerRows: [2] }, { count: 10 }]);
  const dataDir = join(dir, 'server');
  const first = await serverFor(t, dataDir, ['--agencies', '2']);
  t.true(first.lines.some((line) => /action: loteria \| result: success \| estado: nueva/.test(line)));
  const runs = files.map((file, i) => agencyFor(t, i + 1, first.port, ['--data-file', file]).result);
  t.deepEqual(
    (await within(Promise.all(runs), 'the agencies')).map(({ code }) => code),
    [0, 0],
  );
  t.is(await first.stop(), 0);

  const refused = startProgram('lottery-server', ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--agencies', '3']);
  t.is(await within(refused.exited, 'the refused server'), 1);
  t.false(
    refused.lines.some((line) => /action: listen/.test(line)),
    'it never listened',
  );
  // The failure is said first: the lines of the workers closing come after it.
  const failure = refused.lines.findIndex((line) => /action: start \| result: fail/.test(line));
  t.regex(
    refused.lines[failure],
    /ERROR +action: start \| result: fail \| error: .*server holds a lottery drawn for 2 agencies, but this server is set for 3/,
  );
  t.false(
    refused.lines.slice(0, failure).some((line) => /action: close_/.test(line)),
    refused.lines.join('\n'),
  );
  t.is(refused.lines.filter((line) => /action: start \| result: fail/.test(line)).length, 1, 'said once');

  const again = await serverFor(t, dataDir, ['--agencies', '2']);
  t.true(
    again.lines.some((line) =>
      /WARNING +action: loteria \| result: success \| estado: sorteada \| agencias: 2 \| apuestas: 30 \| cant_ganadores: 1 \| aviso: the lottery in .* was drawn already/.test(
        line,
      ),
    ),
    again.lines.join('\n'),
  );
});
