// Runs the real lottery-server and lottery-agency programs as child
// processes: for the demo, the integration tests, the course-dataset check
// and the benchmark. Everything here talks to 127.0.0.1 only.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

// The .mjs entry points, as npx and npm run them.
const BIN_DIR = new URL('../bin/', import.meta.url).pathname;

export type RunningProgram = {
  child: ChildProcess;
  /** Every line written to stdout so far. */
  lines: string[];
  /** Resolves with the exit code (128 + n for a signal) once it has exited and all its output is in `lines`. */
  exited: Promise<number>;
  /**
   * Resolves with the `count`-th output line (default the first) matching
   * `pattern`; rejects if the program exits first or `timeoutMs` passes.
   */
  waitForLine(pattern: RegExp, options?: { timeoutMs?: number; count?: number }): Promise<RegExpExecArray>;
  /**
   * Resolves once `holds(lines)` is true, checked now and at each new line;
   * rejects if the program exits first or `timeoutMs` passes.
   */
  waitUntil(holds: (lines: readonly string[]) => boolean, what: string, options?: { timeoutMs?: number }): Promise<void>;
};

export type ProgramOptions = {
  onLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Told the child process as soon as it exists, before the program is ready. */
  onSpawn?: (child: ChildProcess) => void;
  /** Where the programs' .mjs entries are: another checkout's src/bin, to time it with this harness. Default: this checkout's. */
  binDir?: string;
};

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Every program started here that has not exited yet. */
const running = new Set<ChildProcess>();

/**
 * SIGTERM to every program started here that is still running; resolves once
 * they have all exited or `graceMs` has passed. For a bench or a harness
 * that gives up and must leave nothing behind.
 */
export async function stopAllPrograms(graceMs = 8000): Promise<void> {
  const children = [...running];
  for (const child of children) child.kill('SIGTERM');
  await Promise.race([
    Promise.all(children.map((child) => (child.exitCode === null && child.signalCode === null ? once(child, 'exit') : undefined))),
    sleep(graceMs, undefined, { ref: false }),
  ]);
}

export function startProgram(name: string, args: string[], options: ProgramOptions = {}): RunningProgram {
  const child = spawn(process.execPath, [join(options.binDir ?? BIN_DIR, `${name}.mjs`), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // It stops, as on SIGTERM, if this process dies without stopping it.
    env: { ...(options.env ?? process.env), LOTTERY_EXIT_WITH_PARENT: '1' },
    cwd: options.cwd,
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  options.onSpawn?.(child);
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  const onLine = (line: string) => {
    lines.push(line);
    options.onLine?.(line);
    for (const watcher of watchers) watcher(line);
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  // 'close', not 'exit': 'exit' may come before the last output has been
  // read, and a program's last line (an agency's winners) would be missed.
  const exited = new Promise<number>((resolve) => {
    child.once('close', (code, signal) => resolve(code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 0)));
  });
  /** Resolves with the first value `seen` gives for a line: each line so far (unless `onlyNew`), then each new one. */
  const watch = <T>(seen: (line: string) => T | undefined, what: string, timeoutMs: number, onlyNew = false) =>
    new Promise<T>((resolve, reject) => {
      for (const line of onlyNew ? [] : lines) {
        const value = seen(line);
        if (value !== undefined) return resolve(value);
      }
      const done = () => {
        watchers.delete(watcher);
        clearTimeout(timer);
      };
      const watcher = (line: string) => {
        const value = seen(line);
        if (value === undefined) return;
        done();
        resolve(value);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${name} printed no ${what} within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`));
      }, timeoutMs);
      watchers.add(watcher);
      void exited.then((code) => {
        if (!watchers.has(watcher)) return;
        done();
        reject(new Error(`${name} exited (${code}) before printing ${what}:\n${lines.slice(-20).join('\n')}`));
      });
    });
  const waitForLine = (pattern: RegExp, { timeoutMs = 30_000, count = 1 } = {}) => {
    let matched = 0;
    const seen = (line: string) => {
      const match = pattern.exec(line);
      return match !== null && ++matched === count ? match : undefined;
    };
    return watch(seen, `${count} lines matching ${pattern}`, timeoutMs);
  };
  const waitUntil = async (holds: (lines: readonly string[]) => boolean, what: string, { timeoutMs = 30_000 } = {}) => {
    if (holds(lines)) return;
    await watch(() => (holds(lines) ? true : undefined), what, timeoutMs, true);
  };
  return { child, lines, exited, waitForLine, waitUntil };
}

export type RunningServer = RunningProgram & { port: number; stop(): Promise<number> };

/**
 * A port on 127.0.0.1 where nothing listens, for a program that must find no
 * server there: below 1024, where the kernel never picks a port for a
 * listen on port 0 or for a connection going out, so nothing started here
 * can hold it.
 */
export const CLOSED_PORT = 1;

/** The rows of `dataDir`/bets.csv, as the server wrote them. */
export async function readStoredRows(dataDir: string): Promise<string[]> {
  return (await readFile(join(dataDir, 'bets.csv'), 'utf8')).split('\n').filter((line) => line !== '');
}

export type ServerOptions = ProgramOptions & {
  port?: number;
  startTimeoutMs?: number;
  /**
   * How to tell that the server listens, and on which port: its `listen` log
   * line (the default: it serves), its `bind` line (it accepts, and holds
   * connections until it serves: agencies may start; a server older than
   * that line is ready at `listen`), or, for a log level
   * that hides those lines (warn and above), its listening socket as the
   * kernel lists it (Linux).
   */
  ready?: 'log' | 'bind' | 'socket';
};

/**
 * Starts lottery-server on 127.0.0.1 (a port the kernel picks unless `port`
 * is given) and waits until it listens. If it does not come up within `startTimeoutMs`, it
 * is killed and the promise rejects: a caller never holds a stray server.
 */
export async function startServer(args: string[], options: ServerOptions = {}): Promise<RunningServer> {
  const ready = options.ready ?? 'log';
  const program = startProgram('lottery-server', ['--host', '127.0.0.1', '--port', String(options.port ?? 0), ...args], options);
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  let port: number;
  try {
    if (ready === 'socket') port = await waitForListening(program, timeoutMs);
    else if (ready === 'bind') {
      const match = await program.waitForLine(
        /action: (?:bind|listen) \| result: success .*\| port: (\d+)|"action":"(?:bind|listen)","result":"success".*"port":(\d+)/,
        {
          timeoutMs,
        },
      );
      port = Number(match[1] ?? match[2]);
    } else {
      // The text line or the JSON one, whichever format the environment asks for.
      const match = await program.waitForLine(
        /action: listen \| result: success .*\| port: (\d+)|"action":"listen","result":"success".*"port":(\d+)/,
        { timeoutMs },
      );
      port = Number(match[1] ?? match[2]);
    }
  } catch (error) {
    program.child.kill('SIGKILL');
    await program.exited;
    throw error;
  }
  return {
    ...program,
    port,
    stop: () => {
      program.child.kill('SIGTERM');
      return program.exited;
    },
  };
}

/** Looks every 50 ms for the program's listening socket; rejects if it exits first or `timeoutMs` passes. */
async function waitForListening(program: RunningProgram, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | undefined;
  void program.exited.then((code) => (exitCode = code));
  while (true) {
    if (exitCode !== undefined)
      throw new Error(`lottery-server exited (${exitCode}) before listening:\n${program.lines.slice(-20).join('\n')}`);
    const port = await listeningPort(program.child.pid!);
    if (port !== undefined) return port;
    if (Date.now() >= deadline)
      throw new Error(`lottery-server did not listen within ${timeoutMs} ms:\n${program.lines.slice(-20).join('\n')}`);
    await sleep(50);
  }
}

/** The TCP port process `pid` listens on, from /proc; undefined while it listens on none. */
async function listeningPort(pid: number): Promise<number | undefined> {
  const sockets = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
    const inode = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''))?.[1];
    if (inode !== undefined) sockets.add(inode);
  }
  for (const table of ['tcp', 'tcp6']) {
    const rows = (await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '')).split('\n').slice(1);
    for (const row of rows) {
      // sl local_address rem_address st ... inode: the address is hex ip:port, state 0A is LISTEN.
      const fields = row.trim().split(/\s+/);
      if (fields[3] === '0A' && sockets.has(fields[9])) return Number.parseInt(fields[1].split(':')[1], 16);
    }
  }
  return undefined;
}

export type AgencyRun = { code: number; lines: string[]; winners: string[] | undefined };

/** Starts lottery-agency; `result` resolves when it exits, with the winners it logged. */
export function startAgency(id: number, port: number, args: string[] = [], options: ProgramOptions = {}) {
  const program = startProgram('lottery-agency', ['--id', String(id), '--server', `127.0.0.1:${port}`, ...args], options);
  const result = program.exited.then((code): AgencyRun => ({ code, lines: program.lines, winners: winnersIn(program.lines) }));
  return { ...program, result };
}

/** The winners an agency logged in its `ganadores` line (text or JSON), if it logged one. */
export function winnersIn(lines: readonly string[]): string[] | undefined {
  for (const line of lines) {
    const event = jsonEvent(line);
    if (event !== undefined) {
      if (event.action === 'ganadores' && event.result === 'success') return (event.dnis as string[] | undefined) ?? [];
      continue;
    }
    const match = /action: ganadores \| result: success\b(?:.*\| dnis: (.*))?/.exec(line);
    // No `dnis` at all when there are no winners.
    if (match) return match[1] === undefined ? [] : match[1].split(',');
  }
  return undefined;
}

/** A JSON log line as an object; undefined for any other line. */
export function jsonEvent(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
