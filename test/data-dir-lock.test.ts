import test from 'ava';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { startProgram } from '../src/harness/lottery-processes.ts';
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { LOCK_FILE, lockDataDir } from '../src/storage/data-dir-lock.ts';
import { agencyFiles, agencyFor, pollUntil, serverFor, sorted, storedRows, tempDir, within } from './helpers/lottery-fixtures.ts';
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

test('a deleted server.lock is locked again by its holder, so a second lock is still refused', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const lock = await lockDataDir(dataDir);
  t.teardown(() => lock.release());
  await rm(join(dataDir, LOCK_FILE));
  // Nothing but the holder's watcher brings the file back.
  await pollUntil(() => existsSync(join(dataDir, LOCK_FILE)), 'server.lock made again', { everyMs: 20, ms: 10_000 });
  await t.throwsAsync(lockDataDir(dataDir), { instanceOf: DataDirLockedError });
});

test('a holder whose server.lock was replaced by a file another server locks reports the lock lost', async (t) => {
  const root = await tempDir(t);
  const dataDir = join(root, 'data');
  const lock = await lockDataDir(dataDir);
  t.teardown(() => lock.release());
  const other = await lockDataDir(join(root, 'other'));
  t.teardown(() => other.release());
  // The other server's locked file, moved to this name: the same inode, still locked by it.
  await rename(join(root, 'other', LOCK_FILE), join(dataDir, LOCK_FILE));
  lock.check();
  const lost = await within(lock.lost, 'the lock reported lost', 10_000);
  t.is(lost.code, 'DATA_DIR_LOCKED');
  t.regex(lost.message, /was locked by another server after .*server\.lock was deleted/);
});

test('a running server whose server.lock is deleted refuses a second server and loses no bet', async (t) => {
  const dataDir = join(await tempDir(t), 'server');
  const { files, rows } = await agencyFiles(t, [{ count: 300 }]);
  const first = await serverFor(t, dataDir, ['--agencies', '1']);
  await rm(join(dataDir, LOCK_FILE));
  await pollUntil(() => existsSync(join(dataDir, LOCK_FILE)), 'server.lock made again', { everyMs: 20, ms: 10_000 });
  const second = startProgram('lottery-server', ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir]);
  t.not(await within(second.exited, 'the second server'), 0);
  t.false(second.lines.some((line) => /action: listen/.test(line)));
  const agency = agencyFor(t, 1, first.port, ['--data-file', files[0]]);
  t.is(await within(agency.exited, 'the agency'), 0);
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted(rows));
  t.is(await first.stop(), 0);
});
