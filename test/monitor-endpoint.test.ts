// The operator's HTTP endpoint on a real server: the figures against the
// store after a run, and only growing during it; mutual TLS for the monitor
// alone; plain HTTP only on loopback; promtool's check when it is here.
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startProgram } from '../src/harness/lottery-processes.ts';
import { agencyFiles, agencyFor, serverFor, storedRows, tempDir, within } from './helpers/lottery-fixtures.ts';
import { fetchMonitor, fetchStatus, monitorPortOf, samplesOf } from './helpers/monitor-client.ts';
import { makePki, serverTlsArgs } from './helpers/pki-fixtures.ts';

const run = promisify(execFile);
const promtool = await run('promtool', ['--version']).then(
  () => true,
  () => false,
);
if (!promtool) console.log('promtool not found: its check is skipped (apt-get install prometheus to run it; CI does)');

/** The figures that must only grow while agencies upload. */
const GROWING = [
  'lottery_bets_stored_total',
  'lottery_batches_total{outcome="stored"}',
  'lottery_agencies{state="finished"}',
  'lottery_ack_seconds_count',
];

test('the figures are the truth: they only grow during a run, and after it match the store, the agencies and the sorteo line', async (t) => {
  const spec = [{ count: 3000, winnerRows: [7] }, { count: 2000 }, { count: 2500, winnerRows: [1, 2] }];
  const { files } = await agencyFiles(t, spec);
  const dataDir = await tempDir(t);
  const server = await serverFor(t, dataDir, ['--agencies', '3', '--http-port', '0']);
  const port = monitorPortOf(server);

  const before = await fetchStatus(port);
  t.deepEqual(before.counts, { absent: 3, uploading: 0, finished: 0, closed: 0 });
  t.is(before.waitingFor, 'Waiting for 3 of 3 agencies: agencies 1, 2, 3 not connected.');
  t.is((await fetchMonitor(port, '/readyz')).status, 200);
  t.is((await fetchMonitor(port, '/livez')).status, 200);

  const agencies = files.map((file, i) => agencyFor(t, i + 1, server.port, ['--data-file', file]));
  const done = Promise.all(agencies.map((agency) => agency.result));
  let finished = false;
  void done.then(() => (finished = true));
  // Scraped while the agencies upload: no figure ever goes down.
  let last = new Map<string, number>();
  let scrapes = 0;
  while (!finished || scrapes < 2) {
    const samples = samplesOf((await fetchMonitor(port, '/metrics')).body);
    for (const name of GROWING) {
      t.true(samples.has(name), `${name} is exposed`);
      t.true(samples.get(name)! >= (last.get(name) ?? 0), `${name} did not go down`);
    }
    last = samples;
    scrapes++;
  }
  const runs = await within(done, 'the agencies');
  t.deepEqual(
    runs.map(({ code }) => code),
    [0, 0, 0],
  );

  const rows = await storedRows(t, dataDir);
  const metrics = await fetchMonitor(port, '/metrics');
  t.regex(metrics.type, /^text\/plain; version=0\.0\.4/);
  const samples = samplesOf(metrics.body);
  t.is(samples.get('lottery_bets_stored_total'), rows.length);
  t.is(samples.get('lottery_agencies{state="finished"}'), 3);
  t.is(samples.get('lottery_agencies{state="absent"}')! + samples.get('lottery_agencies{state="uploading"}')!, 0);
  t.is(samples.get('lottery_draw_done'), 1);
  t.true(samples.get('lottery_batches_total{outcome="stored"}')! >= 3);
  t.is(samples.get('lottery_group_commit_bets_sum'), rows.length);
  t.is(samples.get('lottery_info{version="0.1.0",agencies="3",store="file"}'), 1);
  for (const phase of ['agency', 'other']) t.true(samples.has(`lottery_connections{phase="${phase}"}`), `connections by ${phase}`);
  t.false(metrics.body.includes('agency="'), 'no per-agency label');

  const status = await fetchStatus(port);
  const digest = /action: sorteo \| result: success .*\| digest: ([0-9a-f]{64})/.exec(server.lines.join('\n'))![1];
  t.deepEqual(status.draw, { state: 'drawn', digest, winners: 3 });
  t.is(status.bets, rows.length);
  t.deepEqual(
    status.detail.map(({ agency, stored, finished: done, winners }) => ({ agency, stored, done, winners })),
    [1, 2, 3].map((agency) => ({
      agency,
      stored: rows.filter((row) => row.startsWith(`${agency},`)).length,
      done: true,
      winners: spec[agency - 1].winnerRows?.length ?? 0,
    })),
  );
  // Nothing on any route names a bettor: no document of the stored rows appears.
  const documents = rows.slice(0, 50).map((row) => row.split(',').at(-3)!);
  for (const path of ['/', '/status.json', '/metrics']) {
    const body = (await fetchMonitor(port, path)).body;
    t.false(
      documents.some((document) => body.includes(document)),
      `${path} names no document`,
    );
  }

  if (promtool) {
    const checked = await new Promise<{ code: number; output: string }>((resolve) => {
      const child = execFile('promtool', ['check', 'metrics'], (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), output: stdout + stderr }),
      );
      child.stdin!.end(metrics.body);
    });
    t.is(checked.code, 0, checked.output);
  }
});

test('with TLS the endpoint is HTTPS for the monitor alone: an agency gets 403, no certificate fails the handshake', async (t) => {
  const pki = await makePki(t, { agencies: 1 });
  const server = await serverFor(t, await tempDir(t), ['--agencies', '1', '--http-port', '0', ...serverTlsArgs(pki)]);
  const port = monitorPortOf(server);
  const read = (name: string) => readFile(join(pki, name), 'utf8');
  const ca = await read('ca.crt');
  const monitor = { ca, cert: await read('monitor.crt'), key: await read('monitor.key') };
  const agency = { ca, cert: await read('agency-1.crt'), key: await read('agency-1.key') };

  const status = await fetchMonitor(port, '/status.json', monitor);
  t.is(status.status, 200);
  t.is((JSON.parse(status.body) as { agencies: number }).agencies, 1);
  t.is((await fetchMonitor(port, '/metrics', agency)).status, 403);
  t.is((await fetchMonitor(port, '/', agency)).status, 403);
  await t.throwsAsync(fetchMonitor(port, '/livez', { ca }));
  await t.throwsAsync(fetchMonitor(port, '/livez'), undefined, 'plain HTTP is not answered');
});

test('plain HTTP is refused at start off loopback, in one line that names the flag', async (t) => {
  const plain = startProgram('lottery-server', [
    '--data-dir',
    await tempDir(t),
    '--http-port',
    '0',
    '--http-host',
    '0.0.0.0',
    '--http-plain',
  ]);
  t.is(await within(plain.exited, 'the server'), 2);
  t.regex(
    plain.lines.concat().join('\n'),
    /--http-plain \(LOTTERY_HTTP_PLAIN\): plain HTTP only on a loopback --http-host, not 0\.0\.0\.0/,
  );
  const noTls = startProgram('lottery-server', ['--data-dir', await tempDir(t), '--http-port', '0', '--http-host', '0.0.0.0']);
  t.is(await within(noTls.exited, 'the server'), 2);
});

test('unknown routes are 404 and only GET and HEAD are answered', async (t) => {
  const server = await serverFor(t, await tempDir(t), ['--agencies', '1', '--http-port', '0']);
  const port = monitorPortOf(server);
  t.is((await fetchMonitor(port, '/nowhere')).status, 404);
  const page = await fetchMonitor(port, '/');
  t.is(page.status, 200);
  t.regex(page.type, /^text\/html/);
  t.false(/<script[^>]+src=|<link[^>]+href=|https?:\/\//.test(page.body), 'the page fetches nothing from elsewhere');
});
