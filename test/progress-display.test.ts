// The agency's progress line, as a person at a terminal sees it: one line
// under the log that log lines never break, driven by acknowledged bets, that
// says how many agencies have finished while the agency waits for the draw;
// log levels coloured on a terminal unless NO_COLOR is set; nothing of it on
// a pipe. The terminal is a real pseudo-terminal, made by script(1).
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { appendFile } from 'node:fs/promises';
import { StatusLine } from '../src/agency/status-line.ts';
import { CLOSED_PORT } from '../src/harness/lottery-processes.ts';
import { agencyFor, serverFor, tempDir, within, writeAgencies } from './helpers/lottery-fixtures.ts';
import { join } from 'node:path';

const CLEAR = '\r\x1b[2K';
const LOG_LINE = /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (?:\x1b\[[\d;]*m)?(INFO|WARNING|ERROR)/g;

test('a status line is cleared before a log line and drawn again after it', (t) => {
  const written: string[] = [];
  const line = new StatusLine({ write: (text) => written.push(text), columns: 200 }, 'agency 1');
  line.rows = 200;
  line.update({ phase: 'uploading', acknowledged: 50 });
  t.deepEqual(written, [`${CLEAR}agency 1 [#####...............] 25% 50 of 200 rows acknowledged`]);
  written.length = 0;
  line.clear();
  written.push('LOG\n');
  line.redraw();
  t.deepEqual(written, [CLEAR, 'LOG\n', `${CLEAR}agency 1 [#####...............] 25% 50 of 200 rows acknowledged`]);
  written.length = 0;
  line.update({ phase: 'finished', total: 200 });
  line.update({ phase: 'waiting', finished: 3, agencies: 5 });
  t.is(written.at(-1), `${CLEAR}agency 1: 200 rows acknowledged; waiting for the draw (3 of 5 agencies finished)`);
  line.close();
  line.redraw();
  t.is(written.at(-1), CLEAR, 'closed: cleared and never drawn again');
});

const haveScript = spawnSync('script', ['--version']).status === 0;

/** Runs a command in a pseudo-terminal 200 columns wide; resolves with all it wrote there. */
function inTerminal(command: string[], env: NodeJS.ProcessEnv = {}) {
  const quoted = command.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qfec', `stty cols 200; exec ${quoted}`, '/dev/null'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  const watchers = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    for (const watcher of watchers) watcher();
  });
  const exited = new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? -1)));
  /** Resolves once the terminal shows `text`. */
  const shows = (text: string) =>
    new Promise<void>((resolve) => {
      const watcher = () => {
        if (!output.includes(text)) return;
        watchers.delete(watcher);
        resolve();
      };
      watchers.add(watcher);
      watcher();
    });
  return { child, output: () => output, exited, shows };
}

(haveScript ? test : test.skip)(
  'on a terminal the agency keeps one status line under whole log lines, and says who it waits for',
  async (t) => {
    const dir = await tempDir(t);
    const [one, two] = await writeAgencies(dir, [{ count: 600, winnerRows: [5] }, { count: 10 }]);
    // A bad row: a WARNING line, coloured on a terminal.
    await appendFile(one.file, 'Ana,Gómez,not-a-number,2000-01-01,5\r\n');
    const server = await serverFor(t, join(dir, 'server'), ['--agencies', '2']);
    const agencyBin = new URL('../src/bin/lottery-agency.mjs', import.meta.url).pathname;
    const agency = inTerminal([
      process.execPath,
      agencyBin,
      '--id',
      '1',
      '--server',
      `127.0.0.1:${server.port}`,
      '--data-file',
      one.file,
      '--batch-max-amount',
      '20',
      '--skip-invalid',
    ]);
    t.teardown(() => agency.child.kill('SIGKILL'));
    await within(agency.shows('waiting for the draw (1 of 2 agencies finished)'), 'agency 1 saying it waits for the other agency');
    // Agency 2, on a pipe: no status line, no colour.
    const second = agencyFor(t, 2, server.port, ['--data-file', two.file]);
    t.is((await within(second.result, 'agency 2')).code, 0);
    t.is(await within(agency.exited, 'agency 1'), 0, agency.output());
    t.false(
      second.lines.some((line) => line.includes('\x1b') || line.includes('\r')),
      'nothing for a terminal on a pipe',
    );

    const output = agency.output();
    t.regex(output, /agency 1 \[#+\.*\] \d+% [\d,]+ of 601 rows acknowledged/);
    t.true(output.includes('agency 1: 601 rows acknowledged; waiting for the draw (1 of 2 agencies finished)'));
    // Every log line starts on a line of its own: at the start, after a line
    // break, or where the status line was just cleared, never glued to it.
    let lines = 0;
    for (const match of output.matchAll(LOG_LINE)) {
      lines++;
      const before = output.slice(Math.max(0, match.index - CLEAR.length), match.index);
      t.true(
        match.index === 0 || before.endsWith('\n') || before === CLEAR,
        JSON.stringify(output.slice(Math.max(0, match.index - 60), match.index + 40)),
      );
    }
    t.true(lines >= 5, `log lines: ${lines}`);
    t.regex(output, /\x1b\[33mWARNING \x1b\[0m action: leer_apuesta/, 'a warning is yellow on a terminal');
    t.regex(output, / INFO     action: ganadores \| result: success/);
    t.true(output.trimEnd().endsWith(`dnis: ${one.winners[0]}`), 'the status line is gone at the end');
  },
);

(haveScript ? test : test.skip)('NO_COLOR: no colour on a terminal', async (t) => {
  const dir = await tempDir(t);
  const [one] = await writeAgencies(dir, [{ count: 5 }]);
  await appendFile(one.file, 'Ana,Gómez,not-a-number,2000-01-01,5\r\n');
  const agencyBin = new URL('../src/bin/lottery-agency.mjs', import.meta.url).pathname;
  // No server: the agency warns about the bad row only once connected, so it warns of the connection instead.
  const agency = inTerminal(
    [
      process.execPath,
      agencyBin,
      '--id',
      '1',
      '--server',
      `127.0.0.1:${CLOSED_PORT}`,
      '--data-file',
      one.file,
      '--retry-timeout',
      '1',
      '--skip-invalid',
    ],
    { NO_COLOR: '1' },
  );
  t.is(await within(agency.exited, 'the agency'), 1);
  const output = agency.output();
  t.regex(output, / WARNING  action: conexion \| result: fail/);
  t.notRegex(output, /\x1b\[\d+m/, 'no colour codes');
});
