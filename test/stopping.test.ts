// Stopping however it is done: one Ctrl-C is one stop for every process it
// reaches, and a program npx or npm started stops when npm goes, by SIGTERM
// or even by SIGKILL, instead of running on with the data dir held.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SAME_STOP_MS, isNewStop } from '../src/runtime.mjs';
import { startServer } from '../src/harness/lottery-processes.ts';
import { pollUntil, tempDir, within } from './helpers/lottery-fixtures.ts';

const projectDir = new URL('..', import.meta.url).pathname;

test('a stop signal within a second of the first is the same stop; one after it is a second', (t) => {
  t.true(isNewStop(undefined, 5));
  t.false(isNewStop(1000, 1000));
  t.false(isNewStop(1000, 1000 + SAME_STOP_MS - 1));
  t.true(isNewStop(1000, 1000 + SAME_STOP_MS));
});

test('SIGINT then SIGTERM at once, as a Ctrl-C and its parent send them, is one graceful stop with one shutdown message', async (t) => {
  const server = await startServer(['--data-dir', join(await tempDir(t), 'server')]);
  server.child.kill('SIGINT');
  server.child.kill('SIGTERM');
  t.is(await within(server.exited, 'the server exiting'), 0, server.lines.join('\n'));
  t.is(server.lines.filter((line) => /action: shutdown \| result: in_progress/.test(line)).length, 1, server.lines.join('\n'));
  t.false(server.lines.some((line) => /second SIG/.test(line)));
  t.regex(server.lines.at(-1)!, /action: shutdown \| result: success$/);
});

/** The PIDs of `pid`'s descendants run by node whose command line holds `marker` (not the shell npm runs it through). */
function descendants(pid: number, marker: string): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const below = (of: number): number[] => [...parents].filter(([, parent]) => parent === of).flatMap(([child]) => [child, ...below(child)]);
  return below(pid).filter((child) => {
    try {
      const [command, ...args] = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0');
      return /(^|\/)node$/.test(command) && args.some((arg) => arg.includes(marker));
    } catch {
      return false;
    }
  });
}

/** Whether `pid` has exited: gone, or a zombie no one has reaped yet. */
function hasExited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test.serial(`${signal} to npx stops the lottery-server it started, gracefully, and frees the data dir`, async (t) => {
    const dataDir = join(await tempDir(t), 'server');
    const npx = spawn('npx', ['lottery-server', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {
      cwd: projectDir,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    createInterface({ input: npx.stdout! }).on('line', (line) => lines.push(line));
    let program: number[] = [];
    t.teardown(() => {
      npx.kill('SIGKILL');
      for (const pid of program) if (!hasExited(pid)) process.kill(pid, 'SIGKILL');
    });
    await pollUntil(() => lines.some((line) => /action: listen \| result: success/.test(line)), 'the server listening', { ms: 60_000 });
    program = descendants(npx.pid!, 'lottery-server');
    t.is(program.length, 1, 'one program under npx');
    npx.kill(signal);
    await pollUntil(() => hasExited(program[0]), 'the program exiting after npx went', { ms: 5_000 });
    // The program writes to the pipe npx was given: its graceful stop is there to read.
    await pollUntil(() => lines.some((line) => /action: shutdown \| result: success$/.test(line)), 'its shutdown line', { ms: 5_000 });
    t.is(lines.filter((line) => /action: shutdown \| result: in_progress/.test(line)).length, 1, lines.join('\n'));
    // And the data dir is free for the next server.
    const again = await startServer(['--data-dir', dataDir]);
    t.is(await again.stop(), 0, again.lines.join('\n'));
  });
}
