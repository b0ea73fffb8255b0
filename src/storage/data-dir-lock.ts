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
// A lock on a file is a lock on its inode, not its name: `rm server.lock`
// leaves the holder locking a file nobody can open, and the next server
// makes a new one and locks that. So the holder watches the name: whenever
// server.lock is gone or is another file (an fs.watch event on the data dir,
// or a check every second where such events are not delivered), it locks
// the file now at that name, making it if need be, within milliseconds of
// the deletion. A second server then finds it held and is refused. If the
// second server wins that race, the holder finds the new file locked and
// reports the lock lost; the supervisor then stops, so that whatever else
// happens one server goes on writing.
//
// A kernel lock says nothing about who holds it, so the holder also writes
// who it is (pid, host, start time) to a small JSON file beside it: that
// file is for the message a second server prints, never for deciding.

import { statSync, watch, writeFileSync, renameSync, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { DataDirLockedError, type LockHolder } from '../errors.ts';

export const LOCK_FILE = 'server.lock';
export const HOLDER_FILE = 'server.lock.json';

export type DataDirLock = {
  readonly holder: LockHolder;
  /** Resolves if another server took the lock from under this one (see above); never rejects. */
  readonly lost: Promise<DataDirLockedError>;
  /** Checks that server.lock is still the file this server locks, and locks it again if not. What the watcher calls. */
  check(): void;
  release(): Promise<void>;
};

/** How often the name is checked where fs.watch does not report its deletion (some network file systems). */
const CHECK_EVERY_MS = 1000;

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
  const first = takeLock(lockPath);
  if (first === undefined) throw await lockedError(dataDir, holderPath);
  const holder: LockHolder = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  const partial = `${holderPath}.${process.pid}.tmp`;
  await writeFile(partial, `${JSON.stringify(holder)}\n`);
  await rename(partial, holderPath);
  // Every file this server has locked: an old one, deleted, costs one open descriptor until release.
  const databases = [first.database];
  let identity = first.identity;
  const lost = Promise.withResolvers<DataDirLockedError>();
  let isLost = false;
  const check = () => {
    if (isLost || released !== undefined) return;
    const now = statSync(lockPath, { throwIfNoEntry: false });
    if (now !== undefined && now.dev === identity.dev && now.ino === identity.ino) return;
    const again = takeLock(lockPath);
    if (again === undefined) {
      isLost = true;
      lost.resolve(new DataDirLockedError(`the data dir ${dataDir} was locked by another server after ${lockPath} was deleted`, undefined));
      return;
    }
    databases.push(again.database);
    identity = again.identity;
    // The name came back; so does who holds it, which may have gone with it.
    try {
      writeFileSync(partial, `${JSON.stringify(holder)}\n`);
      renameSync(partial, holderPath);
    } catch {
      // Only the message a second server prints depends on it.
    }
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dataDir, { persistent: false }, (_event, name) => {
      if (name === null || name === LOCK_FILE) check();
    });
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined; // The timer below still checks.
  }
  const timer = setInterval(check, CHECK_EVERY_MS).unref();
  let released: Promise<void> | undefined;
  return {
    holder,
    lost: lost.promise,
    check,
    release: () =>
      (released ??= (async () => {
        watcher?.close();
        clearInterval(timer);
        // Who-holds-it goes first: once the lock is dropped the file may be another server's.
        if (!isLost) await rm(holderPath, { force: true });
        for (const database of databases) database.close();
      })()),
  };
}

/** Locks the SQLite file at `path`, making it if need be; undefined when another connection holds it. */
function takeLock(path: string): { database: DatabaseSync; identity: { dev: number; ino: number } } | undefined {
  // timeout 0: a held lock is an answer, not something to wait for.
  const database = new DatabaseSync(path, { timeout: 0 });
  try {
    // A rollback journal kept in memory: no -journal file beside the lock.
    // BEGIN EXCLUSIVE takes the write lock; in exclusive locking mode COMMIT keeps it.
    database.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = MEMORY; BEGIN EXCLUSIVE; COMMIT;');
  } catch (error) {
    database.close();
    if ((error as { errcode?: number }).errcode !== SQLITE_BUSY) throw error;
    return undefined;
  }
  // The file just locked is the one at the name now: it was opened by name and is held open.
  // Gone already: an identity no file has, so that the next check locks whatever is there then.
  const { dev, ino } = statSync(path, { throwIfNoEntry: false }) ?? { dev: -1, ino: -1 };
  return { database, identity: { dev, ino } };
}

async function lockedError(dataDir: string, holderPath: string): Promise<DataDirLockedError> {
  const holder = await readHolder(holderPath);
  const who = holder === undefined ? 'another server (it has not said who it is yet)' : describeHolder(holder);
  return new DataDirLockedError(`the data dir ${dataDir} is in use by ${who}: one server per data dir`, holder);
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
