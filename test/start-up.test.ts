// How the programs start: the version check an older Node gets instead of a
// stack trace, SIGTERM caught from a program's first instants, so that a
// program stopped while it loads still logs and exits as it would later on,
// and a server that listens first and serves once its Store is open.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { delimiter, join } from 'node:path';
import { runtimeIsSupported, runtimeMessage } from '../src/runtime.mjs';
import { CLOSED_PORT, startProgram, type RunningProgram } from '../src/harness/lottery-processes.ts';
import { lockDataDir } from '../src/storage/data-dir-lock.ts';
import { faultsEnv } from './helpers/fault-hooks.ts';
import { agencyFiles, agencyFor, pollUntil, sorted, storedRows, tempDir, within, writeAgencies } from './helpers/lottery-fixtures.ts';
import { connectRaw } from './helpers/raw-connection.ts';
import { fetchMonitor, monitorPortOf } from './helpers/monitor-client.ts';

const binDir = new URL('../src/bin/', import.meta.url).pathname;

test('Node 26.6 and later are supported, anything older is not', (t) => {
  for (const version of ['26.6.0', '26.10.0', '27.0.0', '100.1.2']) t.true(runtimeIsSupported(version), version);
  for (const version of ['26.5.9', '24.11.0', '20.20.2', '8.0.0']) t.false(runtimeIsSupported(version), version);
  t.regex(runtimeMessage('lottery-server', '20.20.2'), /^lottery-server: needs Node\.js >= 26\.6 \(this is 20\.20\.2\)\. .*npx/);
});

/** A `node` on PATH older than 26.6, outside any node_modules: the system's, say. */
function olderNode(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const node = join(dir, 'node');
    if (dir.includes('node_modules') || !existsSync(node)) continue;
    const version = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout?.trim();
    if (version && !runtimeIsSupported(version)) return node;
  }
  return undefined;
}

const oldNode = olderNode();
(oldNode === undefined ? test.skip : test)('on an older Node every program says in one line which Node it needs, and exits 1', (t) => {
  for (const program of ['lottery-server', 'lottery-agency', 'lottery-ping', 'lottery-compose', 'lottery-pki', 'lottery-demo']) {
    const { status, stdout, stderr } = spawnSync(oldNode!, [join(binDir, `${program}.mjs`), '--help'], { encoding: 'utf8' });
    t.is(status, 1, program);
    t.is(stdout, '', program);
    t.is(
      stderr,
      `${runtimeMessage(program, spawnSync(oldNode!, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim())}\n`,
      program,
    );
  }
});

/** Runs a program that announces when it starts listening for SIGTERM. */
function startAnnouncing(name: string, args: string[]): RunningProgram {
  const hook = new URL('./helpers/announce-stop-listener.mjs', import.meta.url).href;
  return startProgram(name, args, { env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${hook}` } });
}

const LISTENING = /^test: listening for SIGTERM$/;

test('an agency sent SIGTERM while it is still loading logs its shutdown and exits 0', async (t) => {
  const [input] = await writeAgencies(await tempDir(t), [{ count: 5 }]);
  // No server on the port: the agency would keep trying for two minutes.
  const agency = startAnnouncing('lottery-agency', [
    '--id',
    '1',
    '--server',
    `127.0.0.1:${CLOSED_PORT}`,
    '--retry-timeout',
    '120',
    '--data-file',
    input.file,
  ]);
  t.teardown(() => agency.child.kill('SIGKILL'));
  await agency.waitForLine(LISTENING);
  agency.child.kill('SIGTERM');
  t.is(await within(agency.exited, 'the agency exiting'), 0, agency.lines.join('\n'));
  t.true(
    agency.lines.some((line) => /action: shutdown \| result: in_progress \| reason: SIGTERM/.test(line)),
    agency.lines.join('\n'),
  );
  t.regex(agency.lines.at(-1)!, /action: shutdown \| result: success$/);
});

test('lottery-ping sent SIGTERM while it waits says so and exits 1', async (t) => {
  // A server that accepts and never answers: only the signal can end the wait.
  const silent = net.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const { port } = silent.address() as net.AddressInfo;
  const ping = startAnnouncing('lottery-ping', ['--server', `127.0.0.1:${port}`, '--timeout', '120']);
  t.teardown(() => ping.child.kill('SIGKILL'));
  await ping.waitForLine(LISTENING);
  ping.child.kill('SIGTERM');
  t.is(await within(ping.exited, 'lottery-ping exiting'), 1);
  t.deepEqual(
    ping.lines.filter((line) => !LISTENING.test(line)),
    ['lottery-ping: stopped by SIGTERM before a PONG'],
  );
});

test('a server whose port is taken says so before it makes its data dir or names a lottery, and exits 1', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const { port } = taken.address() as net.AddressInfo;
  const dataDir = join(await tempDir(t), 'never-made');
  const server = startProgram('lottery-server', ['--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir]);
  t.is(await within(server.exited, 'the server'), 1);
  t.false(existsSync(dataDir), 'the data dir was not made');
  t.false(
    server.lines.some((line) => /action: loteria/.test(line)),
    server.lines.join('\n'),
  );
  const failures = server.lines.filter((line) => /action: start \| result: fail/.test(line));
  t.is(failures.length, 1, server.lines.join('\n'));
  t.regex(
    failures[0],
    new RegExp(`ERROR +action: start \\| result: fail \\| error: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}$`),
  );
});

const BIND = /action: bind \| result: success \| host: 127\.0\.0\.1 \| port: (\d+)/;

test('a server accepts while its Store is still opening, holds those connections unanswered, and serves them once it is open', async (t) => {
  const { dir, files, rows } = await agencyFiles(t, [{ count: 500, winnerRows: [7] }]);
  const dataDir = join(dir, 'server');
  const storeMayOpen = join(dir, 'store-may-open');
  const server = startProgram(
    'lottery-server',
    ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--agencies', '1', '--http-port', '0'],
    { env: faultsEnv({ storeOpensWhen: storeMayOpen }) },
  );
  t.teardown(() => server.child.kill('SIGKILL'));
  const port = Number((await server.waitForLine(BIND, { timeoutMs: 60_000 }))[1]);

  // A monitor's PING and a whole agency, both accepted before the Store is open.
  const early = await connectRaw(port);
  t.teardown(() => early.destroy());
  let answeredBeforeOpen = false;
  early.socket.on('data', () => (answeredBeforeOpen ||= !existsSync(storeMayOpen)));
  early.send({ type: 'PING' });
  const agency = agencyFor(t, 1, port, ['--data-file', files[0]]);
  await agency.waitForLine(/action: config \| result: success/);

  // The session worker is up and the supervisor knows it (its figures are in
  // /metrics): a connection handed to it now would be answered. Still none is.
  await server.waitForLine(/action: listen_http \| result: success/);
  const monitor = monitorPortOf(server);
  await pollUntil(async () => /^lottery_batches_total/m.test((await fetchMonitor(monitor, '/metrics')).body), 'a session worker up', {
    everyMs: 50,
  });
  t.is((await fetchMonitor(monitor, '/readyz')).status, 503, 'not ready while the Store is closed');
  t.false(answeredBeforeOpen, 'the PING was not answered before the Store opened');
  t.false(
    server.lines.some((line) => /action: (listen|loteria) /.test(line)),
    server.lines.join('\n'),
  );
  t.false(
    agency.lines.some((line) => /action: conexion \| result: success/.test(line)),
    'the agency was not welcomed before the Store opened',
  );

  await writeFile(storeMayOpen, '');
  t.deepEqual(await early.receive(), { type: 'PONG' });
  t.false(answeredBeforeOpen);
  t.is(await within(agency.exited, 'the agency'), 0, agency.lines.join('\n'));
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted(rows));
  const at = (pattern: RegExp) => server.lines.findIndex((line) => pattern.test(line));
  t.true(at(BIND) < at(/action: loteria /) && at(/action: loteria /) < at(/action: listen \| result: success/), server.lines.join('\n'));
  server.child.kill('SIGTERM');
  t.is(await within(server.exited, 'the server'), 0);
});

test('a server whose data dir is locked by another has listened, but exits 1 before it touches a file there', async (t) => {
  const dataDir = join(await tempDir(t), 'server');
  const lock = await lockDataDir(dataDir);
  t.teardown(() => lock.release());
  const before = sorted(await readdir(dataDir));
  const server = startProgram('lottery-server', ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir]);
  t.is(await within(server.exited, 'the server'), 1);
  t.true(
    server.lines.some((line) => BIND.test(line)),
    server.lines.join('\n'),
  );
  t.regex(
    server.lines.find((line) => /action: start \| result: fail/.test(line)) ?? '',
    new RegExp(`is in use by the server with pid ${process.pid} .*: one server per data dir$`),
  );
  t.false(
    server.lines.some((line) => /action: (listen|loteria) /.test(line)),
    server.lines.join('\n'),
  );
  t.deepEqual(sorted(await readdir(dataDir)), before, 'no file made in the data dir');
});
