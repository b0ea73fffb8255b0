// A server started on a data dir that already holds a lottery: it says which
// lottery it serves, and refuses an --agencies that contradicts what is
// stored instead of answering wrong winners or refusing agencies as unknown.
import test from 'ava';
import { join } from 'node:path';
import { contradictsStoredLottery } from '../src/ledger/index.ts';
import type { StoreSnapshot } from '../src/actors/store-api.ts';
import { startProgram } from '../src/harness/lottery-processes.ts';
import { agencyFiles, agencyFor, serverFor, tempDir, within } from './helpers/lottery-fixtures.ts';
import { Store } from '../src/actors/store.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { uploadDigestOf } from '../src/bets/upload-digest.ts';
import { createLogger } from '../src/log/logger.ts';

const silent = createLogger({ level: 'silent', format: 'text' });

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

test('a restart that finds every agency finished but no draw says what it found, then draws, then listens', async (t) => {
  const dataDir = await tempDir(t);
  const store = await Store.open({ dataDir, fsync: true, log: silent });
  for (const agency of [1, 2]) {
    const bets = generateBets({ seed: 40 + agency, count: 5, winnerRows: [agency] });
    await store.append({ agency, offset: 0, count: bets.length, rows: encodeCanonicalLines(agency, bets) });
    await store.finish(agency, bets.length, uploadDigestOf(agency, bets));
  }
  t.is(store.snapshot().winners, null, 'as a crash between the last FINISH and the draw leaves it');
  await store.close();

  const server = await serverFor(t, dataDir, ['--agencies', '2']);
  const at = (pattern: RegExp) => server.lines.findIndex((line) => pattern.test(line));
  await server.waitForLine(/action: resultados \| result: success/);
  const found = at(/action: loteria \| result: success \| estado: en_curso \| apuestas: 10 \| finalizadas: 2/);
  const drawn = at(/action: sorteo \| result: success \| cant_ganadores: 2/);
  const listening = at(/action: listen \| result: success/);
  t.true(found !== -1 && drawn !== -1 && listening !== -1, server.lines.join('\n'));
  t.true(found < drawn && drawn < listening, server.lines.join('\n'));
  t.is(at(/action: loteria/), found, 'one loteria line');
});
