// npm start, the demo: it runs whatever log level and format the environment
// asks for, and its server and agencies never outlive it, whatever stops it.
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pollUntil, tempDir, within } from './helpers/lottery-fixtures.ts';

// One demo at a time: each is six processes, and several at once on a small
// busy machine only make every one of them slow.
const serial = test.serial;

const demoBin = new URL('../src/bin/lottery-demo.mjs', import.meta.url).pathname;

type Demo = { child: ChildProcess; lines: string[]; exited: Promise<number>; waitFor(pattern: RegExp, count?: number): Promise<void> };

/** Runs the demo in `cwd` (its .data is there), with `env` added to ours. */
function startDemo(t: ExecutionContext, cwd: string, env: NodeJS.ProcessEnv = {}): Demo {
  const { LOGGING_LEVEL, LOG_FORMAT, ...inherited } = process.env;
  const child = spawn(process.execPath, [demoBin], { cwd, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const waiter of waiters) waiter();
    });
  }
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : -1))));
  const waitFor = (pattern: RegExp, count = 1) =>
    within(
      new Promise<void>((resolve, reject) => {
        // Its last lines explain a demo that stopped before printing them.
        void exited.then((code) =>
          reject(new Error(`the demo exited (${code}) before printing ${count} × ${pattern}:\n${lines.slice(-15).join('\n')}`)),
        );
        const check = () => {
          if (lines.filter((line) => pattern.test(line)).length >= count) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      }),
      `the demo printing ${count} × ${pattern}`,
    );
  return { child, lines, exited, waitFor };
}

/** The processes whose parent is `pid` (Linux /proc). */
async function childrenOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces, so read after its ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) found.push(Number(entry));
  }
  return found;
}

/** The processes running in `dir`: the demo's children inherit its working directory, and keep it once orphaned. */
async function processesIn(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (/^\d+$/.test(entry) && Number(entry) !== process.pid && (await readlink(`/proc/${entry}/cwd`).catch(() => '')) === dir)
      found.push(Number(entry));
  }
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Resolves once none of `pids` is running: they are not this process's children, so no event says when. */
async function allGone(pids: number[]): Promise<void> {
  await pollUntil(() => !pids.some(alive), `processes ${pids.join(', ')} all stopping after the demo`);
}

/**
 * A demo that cannot finish: agency 3's file is a directory, so that agency
 * stops at once and the others wait for a draw that never comes. Resolves
 * once the server and the four other agencies are running, with their pids.
 */
async function stuckDemo(t: ExecutionContext, env: NodeJS.ProcessEnv = {}): Promise<{ demo: Demo; pids: number[] }> {
  const dir = await tempDir(t);
  await mkdir(join(dir, '.data/agency-3.csv'), { recursive: true });
  const demo = startDemo(t, dir, env);
  const finished =
    env.LOG_FORMAT === 'json'
      ? /^\[agency \d\] \{.*"action":"finalizar".*"result":"success"/
      : /^\[agency \d\] .*action: finalizar \| result: success/;
  await demo.waitFor(finished, 4);
  const pids = await childrenOf(demo.child.pid!);
  t.is(pids.length, 5, 'the server and four agencies run');
  return { demo, pids };
}

/** Every line a child of the demo showed is a JSON event with a level and an action; there were more than ten. */
function assertChildLinesAreJson(t: ExecutionContext, demo: Demo): void {
  const logged = demo.lines.filter((line) => /^\[(server  |agency \d)\] /.test(line));
  t.true(logged.length > 10);
  for (const line of logged) {
    const event = JSON.parse(line.slice(line.indexOf('] ') + 2)) as Record<string, unknown>;
    t.regex(String(event.level), /^(info|warn|error)$/, line);
    t.is(typeof event.action, 'string', line);
  }
}

// The SIGINT run also runs with LOG_FORMAT=json: the demo follows its server
// to its port through JSON lines, and shows its children's JSON lines as is.
// (That an agency's JSON winners line is read as the demo reads it, the
// --log-format json test of cli.test.ts checks on real agencies.)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  serial(
    `${signal} to the demo stops its server and agencies before it exits${signal === 'SIGINT' ? ", and under LOG_FORMAT=json shows its children's JSON lines" : ''}`,
    async (t) => {
      const env = signal === 'SIGINT' ? { LOG_FORMAT: 'json' } : {};
      const { demo, pids } = await stuckDemo(t, env);
      demo.child.kill(signal);
      t.is(await within(demo.exited, 'the demo exiting'), signal === 'SIGINT' ? 130 : 143);
      t.deepEqual(pids.filter(alive), [], 'no child outlives the demo');
      if (signal === 'SIGINT') {
        assertChildLinesAreJson(t, demo);
        t.true(
          demo.lines.some((line) => /^\[server  \] \{.*"action":"shutdown".*"result":"success"/.test(line)),
          'the server shut down cleanly',
        );
      } else
        t.true(
          demo.lines.some((line) => /^\[server  \] .*action: shutdown \| result: success$/.test(line)),
          'the server shut down cleanly',
        );
    },
  );
}

serial('a demo whose output is closed (npm start | head) stops its server and agencies', async (t) => {
  const dir = await realpath(await tempDir(t));
  const demo = startDemo(t, dir);
  // As head does once it has its lines: the demo's next write finds no reader.
  await demo.waitFor(/^\[server  \] /);
  demo.child.stdout!.destroy();
  t.is(await within(demo.exited, 'the demo exiting'), 0);
  await pollUntil(async () => (await processesIn(dir)).length === 0, "the demo's children stopping");
  t.deepEqual(await processesIn(dir), []);
});

serial('the server and agencies of a demo killed with SIGKILL notice and stop themselves', async (t) => {
  const { demo, pids } = await stuckDemo(t);
  demo.child.kill('SIGKILL');
  await demo.exited;
  await allGone(pids);
  t.deepEqual(pids.filter(alive), []);
});

serial('LOGGING_LEVEL=warn: the demo runs to the end, shows no info lines, and still prints every winner', async (t) => {
  const dir = await tempDir(t);
  const demo = startDemo(t, dir, { LOGGING_LEVEL: 'warn' });
  t.is(await within(demo.exited, 'the demo'), 0, demo.lines.slice(-10).join('\n'));
  t.false(
    demo.lines.some((line) => / INFO +action:/.test(line)),
    'no info line is shown',
  );
  for (let agency = 1; agency <= 5; agency++)
    t.true(demo.lines.some((line) => line.startsWith(`  agency ${agency}: ${agency} ${agency === 1 ? 'winner' : 'winners'}: `)));
});
