// The sales close with the real programs over mutual TLS: lottery-admin
// close with the monitor identity (an agency's is refused), the draw over
// what is stored while an agency never came, that agency told the close
// when it comes, signed results that lottery-verify checks against the CA;
// --close-at in the past closes at start; a bad --close-at is refused.
import test from 'ava';
import { join } from 'node:path';
import { startProgram } from '../src/harness/lottery-processes.ts';
import { agencyFor, GUARD_MS, serverFor, tempDir, writeAgencies } from './helpers/lottery-fixtures.ts';
import { clientTlsArgs, makePki, serverTlsArgs } from './helpers/pki-fixtures.ts';

const run = async (name: string, args: string[]) => {
  const program = startProgram(name, args);
  const code = await program.exited;
  return { code, lines: program.lines };
};

test('lottery-admin close: only the monitor may close; the draw runs over what is stored; a late agency is told the close; the results verify', async (t) => {
  const dir = await tempDir(t);
  const pki = await makePki(t, { agencies: 2 });
  const [one, two] = await writeAgencies(dir, [
    { count: 40, winnerRows: [3] },
    { count: 30, winnerRows: [1] },
  ]);
  const dataDir = join(dir, 'data');
  const server = await serverFor(t, dataDir, [
    '--agencies',
    '2',
    ...serverTlsArgs(pki),
    '--results-cert',
    join(pki, 'results.crt'),
    '--results-key',
    join(pki, 'results.key'),
  ]);
  const address = ['--server', `127.0.0.1:${server.port}`];
  const first = agencyFor(t, 1, server.port, ['--data-file', one.file, ...clientTlsArgs(pki, 'agency-1')]);
  await server.waitForLine(/action: agencia_finalizada \| result: success/, { timeoutMs: GUARD_MS });

  const refused = await run('lottery-admin', ['close', ...address, ...clientTlsArgs(pki, 'agency-1')]);
  t.is(refused.code, 1);
  t.regex(refused.lines.join('\n'), /ERROR UNAUTHORIZED: .*only the monitor's may close sales/);

  const closed = await run('lottery-admin', ['close', ...address, ...clientTlsArgs(pki, 'monitor')]);
  t.is(closed.code, 0, closed.lines.join('\n'));
  t.regex(closed.lines.join('\n'), /sales closed at \d{4}-\d\d-\d\dT[\d:.]+Z; agencies not finished: 2/);
  await server.waitForLine(/action: cierre \| result: success .*sin_finalizar: 2/, { timeoutMs: GUARD_MS });
  await server.waitForLine(/action: sorteo \| result: success/, { timeoutMs: GUARD_MS });
  const firstRun = await first.result;
  t.is(firstRun.code, 0);
  t.deepEqual(firstRun.winners, one.winners);

  const late = await agencyFor(t, 2, server.port, ['--data-file', two.file, ...clientTlsArgs(pki, 'agency-2')]).result;
  t.not(late.code, 0);
  t.regex(late.lines.join('\n'), /sales closed at [\d-]+T[\d:.]+Z: 0 of this agency's bets were stored before it/);

  await server.stop();
  const verified = await run('lottery-verify', ['--data-dir', dataDir, '--tls-ca', join(pki, 'ca.crt')]);
  t.is(verified.code, 0, verified.lines.join('\n'));
  t.regex(verified.lines.join('\n'), /agency 2: 0 bets of 0 offsets, closed, 0 winners/);
  t.regex(verified.lines.join('\n'), /signature: verified/);
});

test('--close-at in the past closes sales at start and draws over nothing stored; a bad --close-at exits 2 naming the flag', async (t) => {
  const dir = await tempDir(t);
  const server = await serverFor(t, join(dir, 'data'), ['--agencies', '3', '--close-at', '2020-01-01T00:00:00-03:00']);
  await server.waitForLine(/action: cierre \| result: success .*sin_finalizar: 1,2,3/, { timeoutMs: GUARD_MS });
  await server.waitForLine(/action: sorteo \| result: success \| cant_ganadores: 0/, { timeoutMs: GUARD_MS });
  await server.waitForLine(/action: resultados \| result: success .*firmado: no/, { timeoutMs: GUARD_MS });
  const bad = startProgram('lottery-server', ['--data-dir', join(dir, 'other'), '--close-at', '2026-12-04 21:00']);
  t.is(await bad.exited, 2);
  t.regex(bad.lines.join('\n'), /--close-at \(LOTTERY_CLOSE_AT\).*ISO 8601 with its offset/);
});

test('an agency still uploading at the close exits 1 saying when sales closed and how many of its bets were stored, which lottery-verify agrees with', async (t) => {
  const dir = await tempDir(t);
  // Enough bets, one per batch, that the upload is still going when the close comes.
  const [one] = await writeAgencies(dir, [{ count: 300_000, winnerRows: [0] }]);
  const dataDir = join(dir, 'data');
  const pki = await makePki(t, { agencies: 2 });
  const server = await serverFor(t, dataDir, ['--agencies', '2', '--fsync', 'off', ...serverTlsArgs(pki)]);
  const agency = agencyFor(t, 1, server.port, ['--data-file', one.file, '--batch-max-amount', '1', ...clientTlsArgs(pki, 'agency-1')]);
  await server.waitForLine(/action: apuesta_recibida \| result: success \| agencia: 1/, { timeoutMs: GUARD_MS });
  const closed = await run('lottery-admin', ['close', '--server', `127.0.0.1:${server.port}`, ...clientTlsArgs(pki, 'monitor')]);
  t.is(closed.code, 0, closed.lines.join('\n'));
  const run1 = await agency.result;
  t.is(run1.code, 1);
  const said = /sales closed at (\S+): (\d+) of agency 1's bets were stored before it/.exec(run1.lines.join('\n'));
  t.truthy(said, run1.lines.join('\n'));
  const stored = Number(said![2]);
  t.true(stored > 0 && stored < 300_000);
  await server.stop();
  const verified = await run('lottery-verify', ['--data-dir', dataDir, '--json']);
  t.is(verified.code, 0, verified.lines.join('\n'));
  const report = JSON.parse(verified.lines.join('\n'));
  t.like(report.agencies[0], { agency: 1, bets: stored, state: 'closed', winners: 1 });
  t.is(report.closedAt, said![1]);
});
