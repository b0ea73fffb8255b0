// @ts-check
// What every program does before anything else, in plain JavaScript so that
// any Node can load it (an older Node cannot even read a .ts file): catch
// SIGTERM and SIGINT, check the Node version, and turn on the compile cache.
// The .mjs entry points in src/bin call it, then import their program.

import module from 'node:module';
import { readFileSync } from 'node:fs';

/** Node >= 26.6 moves an accepted socket to a worker thread, which the server's design depends on. */
export const MINIMUM_NODE = /** @type {const} */ ([26, 6]);

/** @param {string} [version] */
export function runtimeIsSupported(version = process.versions.node) {
  const [major, minor] = version.split('.').map(Number);
  return major > MINIMUM_NODE[0] || (major === MINIMUM_NODE[0] && minor >= MINIMUM_NODE[1]);
}

/** The one line an older Node gets instead of a stack trace. @param {string} program @param {string} [version] */
export function runtimeMessage(program, version = process.versions.node) {
  return (
    `${program}: needs Node.js >= ${MINIMUM_NODE.join('.')} (this is ${version}). ` +
    'The project installs that Node with npm install: run the programs with npx or npm in the project ' +
    '(they use node_modules/.bin/node), or put node_modules/.bin first on PATH.'
  );
}

/** Exits with that line on an older Node. @param {string} program */
export function requireRuntime(program) {
  if (runtimeIsSupported()) return;
  process.stderr.write(`${runtimeMessage(program)}\n`);
  process.exit(1);
}

/**
 * Node strips TypeScript types each time it loads a file, and every thread
 * starts its stripper anew: tens of milliseconds per thread. Node's compile
 * cache keeps the result on disk; the variable makes worker threads (and
 * child processes) use it from their first file on. NODE_DISABLE_COMPILE_CACHE
 * turns it off, as for Node itself.
 */
export function enableCompileCache() {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return;
  const { directory } = module.enableCompileCache();
  if (directory !== undefined) process.env.NODE_COMPILE_CACHE ??= directory;
}

/** @typedef {(signal: NodeJS.Signals, count: number) => void} StopListener */
/** @type {Set<StopListener>} */
const stopListeners = new Set();
/** @type {NodeJS.Signals[]} */
const stopSignals = [];
/** When the first stop signal came, if one has. @type {number | undefined} */
let firstStopAt;

/**
 * A stop signal this soon after the first is the same stop, not a second
 * one: one Ctrl-C reaches every process of the terminal's foreground group
 * (npm, the demo, its server and agencies) and then again as the SIGTERM
 * each parent sends its children. A second Ctrl-C a person presses comes
 * later, and makes a program exit at once.
 */
export const SAME_STOP_MS = 1000;

/**
 * Whether a stop signal at `now` is a new stop (counted) or the same one as
 * the first, which came at `firstAt`.
 * @param {number | undefined} firstAt
 * @param {number} now
 */
export function isNewStop(firstAt, now) {
  return firstAt === undefined || now - firstAt >= SAME_STOP_MS;
}

/**
 * Catches SIGTERM and SIGINT from now on. Called first thing, before any
 * module of the program loads: Node's default for an uncaught SIGTERM is to
 * die at once (exit 143) without a word, and a container or an operator may
 * send one in a program's first instants. Signals that come before the
 * program listens are kept for it. Safe to call more than once.
 */
export function trapStopSignals() {
  if (trapped) return;
  trapped = true;
  for (const signal of /** @type {const} */ (['SIGTERM', 'SIGINT'])) {
    process.on(signal, () => {
      const now = Date.now();
      if (!isNewStop(firstStopAt, now)) return;
      firstStopAt ??= now;
      stopSignals.push(signal);
      for (const listener of stopListeners) listener(signal, stopSignals.length);
    });
  }
}
let trapped = false;

/**
 * Calls `listener` with each stop signal and how many have come so far;
 * at once (on the next microtask) for each one that came before.
 * @param {StopListener} listener
 */
export function onStopSignal(listener) {
  trapStopSignals();
  stopListeners.add(listener);
  const earlier = [...stopSignals];
  if (earlier.length > 0) queueMicrotask(() => earlier.forEach((signal, i) => listener(signal, i + 1)));
}

/**
 * What a program does first: signals, version, cache. Each program's .ts
 * calls it too, so that running the .ts directly (as the container does)
 * is the same; a second call costs nothing.
 * @param {string} program
 */
export function prepareRuntime(program) {
  trapStopSignals();
  requireRuntime(program);
  enableCompileCache();
  if (process.env.LOTTERY_EXIT_WITH_PARENT || launchedByNpm()) exitWithParent();
}

/**
 * Whether npm started this program (npx, npm exec, npm start, npm run): npm
 * sets npm_command in its children's environment. npm does not pass a
 * SIGTERM on to the program it runs; it exits and leaves the program to run
 * on, listening and holding its data dir. A program that npm started
 * therefore stops when npm is gone. A program started otherwise (a shell,
 * nohup, a service manager, a container) does not watch its parent, so that
 * one left running on purpose keeps running.
 */
export function launchedByNpm(env = process.env) {
  return env.npm_command !== undefined && env.npm_command !== '';
}

/**
 * For a program run by another (the demo, the tests): stop as on SIGTERM
 * once the parent is gone, however it went, even by SIGKILL, which leaves
 * it no chance to stop its children. Linux has no portable way to ask for a
 * signal then, so this looks: a process whose parent dies is given another.
 */
export function exitWithParent(everyMs = 250) {
  const start = ancestors();
  const timer = setInterval(() => {
    const now = ancestors();
    if (now.length === start.length && now.every((pid, i) => pid === start[i])) return;
    clearInterval(timer);
    // A stop already under way (the parent passed its own signal on before it went) is not a second one.
    if (stopSignals.length === 0) process.kill(process.pid, 'SIGTERM');
  }, everyMs);
  timer.unref();
}

/**
 * The parent's PID and, on Linux, the grandparent's. npx and npm run a
 * program through `sh -c`: when npm is killed, the shell stays and only the
 * program's grandparent changes. Where /proc cannot be read, the parent alone.
 */
function ancestors() {
  const parent = process.ppid;
  try {
    const stat = readFileSync(`/proc/${parent}/stat`, 'utf8');
    // "pid (comm) state ppid …": the name may hold spaces and parentheses.
    const grandparent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return [parent, grandparent];
  } catch {
    return [parent];
  }
}

/**
 * The body of each src/bin/*.mjs entry point: prepare, then run the program
 * itself (lottery-server.mjs runs lottery-server.ts).
 * @param {string} program
 */
export async function runProgram(program) {
  prepareRuntime(program);
  await import(new URL(`./bin/${program}.ts`, import.meta.url).href);
}
