// lottery-ping, the containers' health check, against a real server and
// against a port where nothing listens.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLOSED_PORT, startProgram, startServer } from '../src/harness/lottery-processes.ts';

/** Runs lottery-ping to its end, without the caller's CLI_SERVER_ADDRESS or LOTTERY_PING_TIMEOUT. */
async function ping(args: string[]) {
  const env = { ...process.env };
  delete env.CLI_SERVER_ADDRESS;
  delete env.LOTTERY_PING_TIMEOUT;
  const program = startProgram('lottery-ping', args, { env });
  const code = await program.exited;
  return { code, lines: program.lines };
}

test('lottery-ping exits 0 when the server answers PONG', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lottery-ping-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const server = await startServer(['--data-dir', dataDir, '--workers', '1']);
  try {
    const { code, lines } = await ping(['--server', `127.0.0.1:${server.port}`]);
    t.is(code, 0, lines.join('\n'));
  } finally {
    t.is(await server.stop(), 0);
  }
});

test('lottery-ping exits 1 with the reason when nothing listens', async (t) => {
  const { code, lines } = await ping(['--server', `127.0.0.1:${CLOSED_PORT}`]);
  t.is(code, 1);
  t.is(lines.length, 1);
  t.regex(lines[0], new RegExp(`^lottery-ping: cannot reach the server at 127\\.0\\.0\\.1:${CLOSED_PORT}: .*ECONNREFUSED`));
});

test('lottery-ping exits 2 on a bad --timeout, naming it', async (t) => {
  const { code, lines } = await ping(['--timeout', 'soon']);
  t.is(code, 2);
  t.regex(lines[0], /^lottery-ping: --timeout \(LOTTERY_PING_TIMEOUT\): must be a positive number of seconds/);
});
