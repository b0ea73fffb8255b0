// One server per data dir. Two servers writing the same bets.csv overwrite
// each other's acknowledged bets, so the server takes this lock before it
// touches the data dir and holds it for its whole life.
//
// Why a kernel lock, and why through node:sqlite: the lock must vanish with
// its holder however the holder dies (kill -9, OOM, power loss), or a crash
// would block the restart. A PID file cannot promise that: a PID is reused,
// and in containers every server is PID 1 in its own namespace, so "is that
// PID alive?" answers for the wrong process. Node has no flock() or fcntl();
// its built-in SQLite does take POSIX fcntl() locks on its database file, and
// with `locking_mode = EXCLUSIVE` it keeps the write lock until the
// connection closes. The kernel drops such a lock when the process ends, for
// any reason, and it holds between containers that share the volume (one
// kernel, one inode). So the lock file is an (empty) SQLite database held
// exclusively; it is never deleted, because deleting a lock file while
// someone waits on it is how two processes end up holding two "locks".
//
// A kernel lock says nothing about who holds it, so the holder also writes
// who it is (pid, host, start time) to a small JSON file beside it: that
// file is for the message a second server prints, never for deciding.

import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { DataDirLockedError, type LockHolder } from '../errors.ts';

export const LOCK_FILE = 'server.lock';
export const HOLDER_FILE = 'server.lock.json';

export type DataDirLock = { readonly holder: LockHolder; release(): Promise<void> };

/** SQLite's "database is locked": another connection holds the lock. */
const SQLITE_BUSY = 5;

/**
 * Takes the data dir's lock, creating the dir if needed. Throws
 * DataDirLockedError at once (it never waits) when another server holds it.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const lockPath = join(dataDir, LOCK_FILE);
  const holderPath = join(dataDir, HOLDER_FILE);
  // timeout 0: a held lock is an answer, not something to wait for.
  const database = new DatabaseSync(lockPath, { timeout: 0 });
  try {
    // A rollback journal kept in memory: no -journal file beside the lock.
    // BEGIN EXCLUSIVE takes the write lock; in exclusive locking mode COMMIT keeps it.
    database.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = MEMORY; BEGIN EXCLUSIVE; COMMIT;');
  } catch (error) {
    database.close();
    if ((error as { errcode?: number }).errcode !== SQLITE_BUSY) throw error;
    const holder = await readHolder(holderPath);
    const who = holder === undefined ? 'another server (it has not said who it is yet)' : describeHolder(holder);
    throw new DataDirLockedError(`the data dir ${dataDir} is in use by ${who}: one server per data dir`, holder);
  }
  const holder: LockHolder = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  const partial = `${holderPath}.${process.pid}.tmp`;
  await writeFile(partial, `${JSON.stringify(holder)}\n`);
  await rename(partial, holderPath);
  let released: Promise<void> | undefined;
  return {
    holder,
    release: () =>
      (released ??= (async () => {
        // Who-holds-it goes first: once the lock is dropped the file may be another server's.
        await rm(holderPath, { force: true });
        database.close();
      })()),
  };
}

export function describeHolder({ pid, host, startedAt }: LockHolder): string {
  return `the server with pid ${pid} on host ${host}, started ${startedAt}`;
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    const holder = JSON.parse(await readFile(path, 'utf8')) as LockHolder;
    return typeof holder.pid === 'number' && typeof holder.host === 'string' && typeof holder.startedAt === 'string' ? holder : undefined;
  } catch {
    return undefined;
  }
}
