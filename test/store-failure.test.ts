import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startProgram } from '../src/harness/lottery-processes.ts';
import { connectRaw } from './helpers/raw-connection.ts';
import { faultsEnv } from './helpers/fault-hooks.ts';
import { serverFor, tempDir, within } from './helpers/lottery-fixtures.ts';

const bet = (document: string) => ['Ana', 'Pérez', document, '1990-01-01', 1] as [string, string, string, string, number];

test('a Store that dies takes the server down with a non-zero exit and says why; a restart recovers what was acknowledged', async (t) => {
  const dataDir = join(await tempDir(t), 'server');
  const server = await serverFor(t, dataDir, ['--agencies', '1'], { env: faultsEnv({ storeCrashAfterBatches: 2 }) });
  const client = await connectRaw(server.port);
  t.teardown(() => client.destroy());
  client.send({ type: 'HELLO', agency: 1 });
  t.like(await client.receive(), { type: 'WELCOME', offset: 0 });
  client.send({ type: 'BETS', offset: 0, bets: [bet('1')] });
  t.deepEqual(await client.receive(), { type: 'ACK', offset: 1 });
  client.send({ type: 'BETS', offset: 1, bets: [bet('2')] });
  t.deepEqual(await client.receive(), { type: 'ACK', offset: 2 });
  // The third batch kills the Store: the server must not live on as a zombie that still answers PING.
  client.send({ type: 'BETS', offset: 2, bets: [bet('3')] });
  const code = await within(server.exited, 'the server after its Store died');
  t.is(code, 1);
  t.true(
    server.lines.some((line) => /action: store \| result: fail .*injected fault/.test(line)),
    server.lines.join('\n'),
  );
  t.regex(server.lines.at(-1)!, /action: shutdown \| result: fail .*restarted into recovery/);
  await within(client.closed, 'the connection to close');

  const restarted = await serverFor(t, dataDir, ['--agencies', '1']);
  const again = await connectRaw(restarted.port);
  t.teardown(() => again.destroy());
  again.send({ type: 'HELLO', agency: 1 });
  t.like(await again.receive(), { type: 'WELCOME', offset: 2 });
});

test('SIGTERM while the server is stuck starting up stops it at once', async (t) => {
  const dataDir = join(await tempDir(t), 'server');
  await mkdir(dataDir);
  // A journal that is a FIFO: reading it blocks for good, as a hung mount would.
  execFileSync('mkfifo', [join(dataDir, 'bets.journal')]);
  const server = startProgram('lottery-server', ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir]);
  t.teardown(() => server.child.kill('SIGKILL'));
  await server.waitForLine(/action: config \| result: success/);
  server.child.kill('SIGTERM');
  t.is(await within(server.exited, 'the server after one SIGTERM'), 143);
  t.true(
    server.lines.some((line) => /action: shutdown \| result: fail \| reason: SIGTERM during start-up/.test(line)),
    server.lines.join('\n'),
  );
  t.false(server.lines.some((line) => /action: listen/.test(line)));
});
