// Runs the real lottery-server and lottery-agency programs as child
// processes: for the demo, the integration tests, the course-dataset check
// and the benchmark. Everything here talks to 127.0.0.1 only.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const binPath = (name: string) => new URL(`../bin/${name}.ts`, import.meta.url).pathname;

export type RunningProgram = {
  child: ChildProcess;
  /** Every line written to stdout so far. */
  lines: string[];
  /** Resolves with the exit code (128 + n for a signal) once it exits. */
  exited: Promise<number>;
  /**
   * Resolves with the `count`-th output line (default the first) matching
   * `pattern`; rejects if the program exits first or `timeoutMs` passes.
   */
  waitForLine(pattern: RegExp, options?: { timeoutMs?: number; count?: number }): Promise<RegExpExecArray>;
};

export type ProgramOptions = { onLine?: (line: string) => void; env?: NodeJS.ProcessEnv; cwd?: string };

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

export function startProgram(name: string, args: string[], options: ProgramOptions = {}): RunningProgram {
  const child = spawn(process.execPath, [binPath(name), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  const onLine = (line: string) => {
    lines.push(line);
    options.onLine?.(line);
    for (const watcher of watchers) watcher(line);
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 0)));
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
        reject(new Error(`${name} printed fewer than ${count} lines matching ${pattern} within ${timeoutMs} ms:\n${lines.slice(-20).join('\n')}`));
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

/** Starts lottery-server on 127.0.0.1 (a free port unless `port` is given) and waits until it listens. */
export async function startServer(args: string[], options: ProgramOptions & { port?: number } = {}): Promise<RunningServer> {
  const program = startProgram('lottery-server', ['--host', '127.0.0.1', '--port', String(options.port ?? 0), ...args], options);
  const match = await program.waitForLine(/action: listen \| result: success .*\| port: (\d+)/);
  return {
    ...program,
    port: Number(match[1]),
    stop: () => {
      program.child.kill('SIGTERM');
      return program.exited;
    },
  };
}

export type AgencyRun = { code: number; lines: string[]; winners: string[] | undefined };

/** Starts lottery-agency; `result` resolves when it exits, with the winners it logged. */
export function startAgency(id: number, port: number, args: string[] = [], options: ProgramOptions = {}) {
  const program = startProgram('lottery-agency', ['--id', String(id), '--server', `127.0.0.1:${port}`, ...args], options);
  const result = program.exited.then((code): AgencyRun => ({ code, lines: program.lines, winners: winnersIn(program.lines) }));
  return { ...program, result };
}

/** The winners an agency logged in its `ganadores` line, if it logged one. */
export function winnersIn(lines: readonly string[]): string[] | undefined {
  for (const line of lines) {
    const match = /action: ganadores \| result: success .*\| dnis: ?(.*)$/.exec(line);
    if (match) return match[1] === '' ? [] : match[1].split(',');
  }
  return undefined;
}
