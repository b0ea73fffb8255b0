// Runs the real lottery-server and lottery-agency programs as child
// processes: for the demo, the integration tests, the course-dataset check
// and the benchmark. Everything here talks to 127.0.0.1 only.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

// The .mjs entry points, as npx and npm run them.
const binPath = (name: string) => new URL(`../bin/${name}.mjs`, import.meta.url).pathname;

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
};

export type ProgramOptions = {
  onLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Told the child process as soon as it exists, before the program is ready. */
  onSpawn?: (child: ChildProcess) => void;
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
  const child = spawn(process.execPath, [binPath(name), ...args], {
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
  const waitForLine = (pattern: RegExp, { timeoutMs = 30_000, count = 1 } = {}) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      let seen = 0;
      const matches = (line: string) => {
        const match = pattern.exec(line);
        return match !== null && ++seen === count ? match : null;
      };
      for (const line of lines) {
        const match = matches(line);
        if (match) return resolve(match);
      }
      const done = () => {
        watchers.delete(watcher);
        clearTimeout(timer);
      };
      const watcher = (line: string) => {
        const match = matches(line);
        if (match) {
          done();
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${name} printed fewer than ${count} lines matching ${pattern} within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`,
          ),
        );
      }, timeoutMs);
      watchers.add(watcher);
      void exited.then((code) => {
        if (!watchers.has(watcher)) return;
        done();
        reject(new Error(`${name} exited (${code}) before printing ${count} lines matching ${pattern}:\n${lines.slice(-20).join('\n')}`));
      });
    });
  return { child, lines, exited, waitForLine };
}

export type RunningServer = RunningProgram & { port: number; stop(): Promise<number> };

/** A port free on 127.0.0.1 now, so that restarts can listen on the same one. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The rows of `dataDir`/bets.csv, as the server wrote them. */
export async function readStoredRows(dataDir: string): Promise<string[]> {
  return (await readFile(join(dataDir, 'bets.csv'), 'utf8')).split('\n').filter((line) => line !== '');
}

export type ServerOptions = ProgramOptions & {
  port?: number;
  startTimeoutMs?: number;
  /**
   * How to tell that the server listens: its `listen` log line (the default),
   * or, for a log level that hides that line (warn and above), a connection
   * it accepts: then a free port is chosen unless `port` is given.
   */
  ready?: 'log' | 'connect';
};

/**
 * Starts lottery-server on 127.0.0.1 (a free port unless `port` is given) and
 * waits until it listens. If it does not come up within `startTimeoutMs`, it
 * is killed and the promise rejects: a caller never holds a stray server.
 */
export async function startServer(args: string[], options: ServerOptions = {}): Promise<RunningServer> {
  const ready = options.ready ?? 'log';
  const requested = options.port ?? (ready === 'connect' ? await freePort() : 0);
  const program = startProgram('lottery-server', ['--host', '127.0.0.1', '--port', String(requested), ...args], options);
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  let port: number;
  try {
    if (ready === 'connect') {
      await waitForConnect(requested, program, timeoutMs);
      port = requested;
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

/** Tries to connect every 50 ms until the program accepts on `port`; rejects if it exits first or `timeoutMs` passes. */
async function waitForConnect(port: number, program: RunningProgram, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | undefined;
  void program.exited.then((code) => (exitCode = code));
  while (true) {
    if (exitCode !== undefined)
      throw new Error(`lottery-server exited (${exitCode}) before listening:\n${program.lines.slice(-20).join('\n')}`);
    const connected = await new Promise<boolean>((resolve) => {
      const probe = net.connect({ host: '127.0.0.1', port });
      probe.once('connect', () => {
        probe.end();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (connected) return;
    if (Date.now() >= deadline)
      throw new Error(
        `lottery-server did not accept connections on port ${port} within ${timeoutMs} ms:\n${program.lines.slice(-20).join('\n')}`,
      );
    await sleep(50);
  }
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
