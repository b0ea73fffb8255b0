import test from 'ava';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { startProgram } from '../src/harness/lottery-processes.ts';
import { lockDataDir } from '../src/storage/data-dir-lock.ts';
import { serverFor, tempDir, within } from './helpers/lottery-fixtures.ts';
import { DataDirLockedError } from '../src/errors.ts';

test('a second server on the same data dir exits non-zero at once, naming the holder', async (t) => {
  const dataDir = join(await tempDir(t), 'server');
  const first = await serverFor(t, dataDir);
  const second = startProgram('lottery-server', ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir]);
  const code = await within(second.exited, 'the second server');
  t.not(code, 0);
  const refusal = second.lines.find((line) => /action: start \| result: fail/.test(line));
  t.truthy(refusal, second.lines.join('\n'));
  t.regex(refusal!, new RegExp(`pid ${first.child.pid} on host ${hostname()}, started \\d{4}-\\d\\d-\\d\\dT`));
  t.false(second.lines.some((line) => /action: listen/.test(line)));
  // The first one is untouched and stops cleanly, after which the dir is
  // free: the lock a starting server takes is taken here, in process.
  t.is(await first.stop(), 0);
  const lock = await lockDataDir(dataDir);
  t.is(lock.holder.pid, process.pid);
  await lock.release();
});

test('a lock left by a server killed with SIGKILL does not block its restart', async (t) => {
  const dataDir = join(await tempDir(t), 'server');
  const first = await serverFor(t, dataDir);
  first.child.kill('SIGKILL');
  await first.exited;
  const restarted = await serverFor(t, dataDir);
  t.is(await restarted.stop(), 0);
});

test('within one process the lock is exclusive too, and free again once released', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const lock = await lockDataDir(dataDir);
  t.is(lock.holder.pid, process.pid);
  const error = await t.throwsAsync(lockDataDir(dataDir), { instanceOf: DataDirLockedError });
  t.is(error!.holder?.pid, process.pid);
  await lock.release();
  await lock.release();
  const again = await lockDataDir(dataDir);
  await again.release();
});
