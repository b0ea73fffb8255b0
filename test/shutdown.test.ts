import test from 'ava';
import { join } from 'node:path';
import { startAgency, startServer } from '../src/harness/lottery-processes.ts';
import { agencyFiles, storedRows, tempDir } from './helpers/lottery-fixtures.ts';

const closeLine = /action: close_(\w+) \| result: success/;

test('SIGTERM under load: every batch logged as stored is in bets.csv, no row is torn, and the server exits 0', async (t) => {
  const { dir, files } = await agencyFiles(
    t,
    Array.from({ length: 4 }, () => ({ count: 3000 })),
  );
  const dataDir = join(dir, 'server');
  const server = await startServer(['--data-dir', dataDir, '--agencies', '4']);
  const agencies = files.map((file, i) =>
    startAgency(i + 1, server.port, ['--data-file', file, '--batch-max-amount', '3', '--retry-timeout', '1']),
  );
  await server.waitForLine(/action: apuesta_recibida \| result: success/, { count: 30 });
  const code = await server.stop();
  for (const agency of agencies) await agency.exited;

  t.is(code, 0);
  const logged = server.lines
    .map((line) => /action: apuesta_recibida \| result: success \| agencia: \d+ \| cantidad: (\d+)/.exec(line))
    .reduce((sum, match) => sum + (match ? Number(match[1]) : 0), 0);
  // storedRows fails the test if the last row is not whole.
  const rows = await storedRows(t, dataDir);
  t.is(rows.length, logged);
  for (const row of rows) t.regex(row, /^\d+,[^,]+,[^,]+,\d+,\d{4}-\d{2}-\d{2},\d+$/);
  const closed = server.lines.map((line) => closeLine.exec(line)?.[1]).filter(Boolean);
  // In order: stop accepting, close the sessions, then flush and close the files.
  t.true(closed.indexOf('acceptor') >= 0);
  t.true(closed.indexOf('acceptor') < closed.indexOf('session_workers'));
  t.true(closed.indexOf('session_workers') < closed.indexOf('store'));
  t.regex(server.lines.at(-1)!, /action: shutdown \| result: success$/);
});

test('an idle server shuts down on SIGINT too, logging each resource it closes', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--workers', '3']);
  server.child.kill('SIGINT');
  t.is(await server.exited, 0);
  t.is(server.lines.filter((line) => /action: close_session_worker \| result: success/.test(line)).length, 3);
  t.true(server.lines.some((line) => /action: close_store \| result: success/.test(line)));
  t.regex(server.lines.at(-1)!, /action: shutdown \| result: success$/);
});

test('an agency stopped with SIGTERM mid-upload closes its socket and file and exits 0', async (t) => {
  const { dir, files } = await agencyFiles(t, [{ count: 20000 }]);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--agencies', '1']);
  t.teardown(() => server.stop());
  const agency = startAgency(1, server.port, ['--data-file', files[0], '--batch-max-amount', '2']);
  await server.waitForLine(/action: apuesta_recibida \| result: success/, { count: 5 });
  agency.child.kill('SIGTERM');
  t.is(await agency.exited, 0);
  const actions = agency.lines.map((line) => /action: (\w+) \| result: (\w+)/.exec(line)?.slice(1, 3).join(' ')).filter(Boolean);
  t.true(actions.includes('close_connection success'));
  t.true(actions.includes('close_file success'));
  t.is(actions.at(-1), 'shutdown success');
  // One line says how far it got and that a rerun resumes there.
  const progress = agency.lines.filter((line) => /action: subida \| result: in_progress/.test(line));
  t.is(progress.length, 1, agency.lines.join('\n'));
  // The ACKs of the batches the server logged may still be on their way: what counts is that a count is given.
  const acknowledged = Number(
    /filas_confirmadas: (\d+) \| filas: 20000 \| reanudar: stopped before finishing: .* resume from the rows the server holds$/.exec(
      progress[0],
    )?.[1],
  );
  t.true(acknowledged >= 0 && acknowledged < 20000, progress[0]);
});
