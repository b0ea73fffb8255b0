// How the programs start: the version check an older Node gets instead of a
// stack trace, and SIGTERM caught from a program's first instants, so that a
// program stopped while it loads still logs and exits as it would later on.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { delimiter, join } from 'node:path';
import { runtimeIsSupported, runtimeMessage } from '../src/runtime.mjs';
import { CLOSED_PORT, startProgram, type RunningProgram } from '../src/harness/lottery-processes.ts';
import { tempDir, within, writeAgencies } from './helpers/lottery-fixtures.ts';

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
