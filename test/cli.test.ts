// The command-line programs as an operator meets them: --help, --version,
// refusals of bad configuration, the log formats, a bets file with bad rows,
// and a graceful stop on SIGTERM.
import test, { type ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agencySchema, loadAgencyConfig } from '../src/config/agency-config.ts';
import type { Setting } from '../src/config/program-config.ts';
import { loadServerConfig, serverSchema } from '../src/config/server-config.ts';
import { ConfigExit } from '../src/errors.ts';
import { startProgram, winnersIn, type RunningProgram } from '../src/harness/lottery-processes.ts';
import { connectRaw } from './helpers/raw-connection.ts';
import { agencyFor, serverFor, sorted, storedRows, tempDir, within, writeAgencies } from './helpers/lottery-fixtures.ts';
import { uploadDigestOf } from '../src/bets/upload-digest.ts';

/** The environment without any variable the programs read: only the flags given count. */
const env = (() => {
  const read = new Set([...Object.values(serverSchema), ...Object.values(agencySchema)].map((setting) => setting.env));
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !read.has(name)));
})();

type Program = 'lottery-server' | 'lottery-agency';

/** Starts a program; killed after the test if it is still running. */
function start(t: ExecutionContext, name: Program, args: string[]): RunningProgram {
  const program = startProgram(name, args, { env });
  t.teardown(() => {
    if (program.child.exitCode === null && program.child.signalCode === null) program.child.kill('SIGKILL');
  });
  return program;
}

/** Runs a program to its end; resolves with its exit code and every line it wrote. */
async function run(t: ExecutionContext, name: Program, args: string[]) {
  const program = start(t, name, args);
  const code = await within(program.exited, `${name} ${args.join(' ')} exiting`);
  return { code, lines: program.lines, output: program.lines.join('\n') };
}

/** What a program's configuration loader makes of `args`: the exit code and lines a refusal, --help or --version would print. */
function loaded(t: ExecutionContext, name: Program, args: string[]) {
  const load = name === 'lottery-server' ? () => loadServerConfig(args, {}) : () => loadAgencyConfig(args, {});
  const exit = t.throws(load, { instanceOf: ConfigExit }, `${name} ${args.join(' ')}`);
  if (exit === undefined) throw new Error(`${name} ${args.join(' ')} was taken`);
  return { code: exit.exitCode, lines: exit.message.split('\n'), output: exit.message };
}

const SERVER_FLAGS = [
  'port',
  'host',
  'agencies',
  'data-dir',
  'workers',
  'fsync',
  'max-connections',
  'handshake-timeout',
  'handshake-queue-timeout',
  'max-handshakes',
  'idle-timeout',
  'log-level',
  'log-format',
  'config',
];
const AGENCY_FLAGS = [
  'id',
  'server',
  'data-file',
  'batch-max-amount',
  'winners-timeout',
  'reply-timeout',
  'retry-timeout',
  'log-level',
  'log-format',
  'config',
];
const RESULT = /^(success|fail|in_progress)$/;
/** A text event line: time, level, then action and result as the first two fields. */
const TEXT_EVENT =
  /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (TRACE|DEBUG|INFO|WARNING|ERROR|CRITICAL) +action: [a-z_]+ \| result: (success|fail|in_progress)( \| .*)?$/;

for (const [name, flags, schema] of [
  ['lottery-server', SERVER_FLAGS, serverSchema],
  ['lottery-agency', AGENCY_FLAGS, agencySchema],
] as const) {
  // What --help says is the loader's to decide, read here in process; that a
  // program prints what its loader says and exits with its code, the
  // --version test and the refusals below show of each program for real.
  test(`${name} --help exits 0 and lists every flag`, (t) => {
    const { code, output } = loaded(t, name, ['--help']);
    t.is(code, 0);
    t.regex(output, new RegExp(`^Usage: ${name}`));
    const settings: Setting[] = Object.values(schema);
    const every = new Set([...flags, ...settings.map((setting) => setting.arg), 'help', 'version']);
    for (const flag of every) t.regex(output, new RegExp(`^ +--${flag}\\b`, 'm'), `--help lists --${flag}`);
    for (const setting of settings) t.true(output.includes(setting.env), `--help names ${setting.env}`);
    // Fault injection for tests is no setting at all (see src/actors/fault-hooks.ts).
    t.notRegex(output, /--fault|\bfault/i);
  });

  test(`${name} --version prints package.json's version`, async (t) => {
    const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const { code, lines } = await run(t, name, ['--version']);
    t.is(code, 0);
    t.deepEqual(lines, [version]);
  });
}

/** A refusal's lines: one names the program and the key at fault, and one points at --help. */
function refusalNames(t: ExecutionContext, name: string, key: string, lines: readonly string[], output: string): void {
  t.true(
    lines.some((line) => line.startsWith(`${name}: `) && line.includes(key)),
    `a line names ${key}:\n${output}`,
  );
  t.true(
    lines.some((line) => line.includes(`--help`)),
    'it points at --help',
  );
}

for (const [name, args, key] of [
  ['lottery-server', ['--port', '70000'], '--port'],
  ['lottery-server', ['--agencies', '0'], '--agencies'],
  ['lottery-server', ['--workers', 'many'], '--workers'],
  ['lottery-server', ['--log-format', 'xml'], '--log-format'],
  ['lottery-server', ['--bogus', '1'], '--bogus'],
  ['lottery-agency', [], '--id'],
  ['lottery-agency', ['--id', '0'], '--id'],
  ['lottery-agency', ['--id', '1', '--log-format', 'xml'], '--log-format'],
  ['lottery-agency', ['--id', '1', '--server', 'nowhere'], '--server'],
  ['lottery-agency', ['--id', '1', '--bogus', '1'], '--bogus'],
] as const) {
  const described = args.length === 0 ? 'no --id' : args.join(' ');
  test(`${name} with ${described} exits 2 with a message naming ${key}`, (t) => {
    const { code, lines, output } = loaded(t, name, [...args]);
    t.is(code, 2, output);
    refusalNames(t, name, key, lines, output);
  });
}

// One refusal of each program for real: the loader's exit code is the
// process's, its message reaches the operator, and nothing starts first.
for (const [name, args, key] of [
  ['lottery-server', ['--port', '70000'], '--port'],
  ['lottery-agency', [], '--id'],
] as const) {
  const described = args.length === 0 ? 'no --id' : args.join(' ');
  test(`${name} run with ${described} exits 2 with a message naming ${key}, and does not start`, async (t) => {
    const dir = await tempDir(t);
    const dataDir = join(dir, 'server');
    // Everything else valid and harmless, so that only the bad value can stop it.
    const base =
      name === 'lottery-server'
        ? ['--host', '127.0.0.1', '--data-dir', dataDir]
        : ['--server', '127.0.0.1:9', '--retry-timeout', '1', '--data-file', join(dir, 'none.csv')];
    const { code, lines, output } = await run(t, name, [...base, ...args]);
    t.is(code, 2, output);
    refusalNames(t, name, key, lines, output);
    t.false(
      lines.some((line) => line.includes('action:')),
      'nothing was started, not even logging',
    );
    if (name === 'lottery-server') t.false(existsSync(dataDir), 'the data dir is not created');
  });
}

test('--log-format json gives one JSON object per line, each with an action and a result, for the server and the agencies', async (t) => {
  const dir = await tempDir(t);
  const inputs = await writeAgencies(dir, [{ count: 40, winnerRows: [3] }, { count: 30 }]);
  await writeFile(inputs[1].file, `${await readFile(inputs[1].file, 'utf8')}Ana,Gómez,not-a-number,2000-01-01,5\r\n`);
  const server = start(t, 'lottery-server', [
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--data-dir',
    join(dir, 'server'),
    '--agencies',
    '2',
    '--log-format',
    'json',
  ]);
  const [listen] = await server.waitForLine(/^.*"action":"listen".*$/, { timeoutMs: 60_000 });
  const { port } = JSON.parse(listen) as { port: number };
  const agencies = inputs.map((input) =>
    start(t, 'lottery-agency', [
      '--id',
      String(input.id),
      '--server',
      `127.0.0.1:${port}`,
      '--data-file',
      input.file,
      '--log-format',
      'json',
      '--log-level',
      'debug',
      // Agency 2's file has a bad row, which it uploads for the server to refuse.
      '--skip-invalid',
    ]),
  );
  const codes = await within(Promise.all(agencies.map((agency) => agency.exited)), 'agencies exiting');
  t.deepEqual(codes, [0, 0]);
  server.child.kill('SIGTERM');
  t.is(await within(server.exited, 'the server exiting'), 0);

  for (const [who, lines] of [
    ['server', server.lines],
    ['agency 1', agencies[0].lines],
    ['agency 2', agencies[1].lines],
  ] as const) {
    t.true(lines.length > 3, `${who} logged`);
    for (const line of lines) {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        t.fail(`${who} wrote a line that is not JSON: ${line}`);
        continue;
      }
      t.is(typeof event.action, 'string', `${who}: ${line}`);
      t.regex(String(event.result), RESULT, `${who}: ${line}`);
      t.regex(String(event.level), /^(debug|info|warn|error)$/, `${who}: ${line}`);
      t.is(new Date(String(event.time)).toISOString(), String(event.time), `${who}: ${line}`);
    }
  }
  const events = (lines: string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  t.like(events(server.lines)[0], { action: 'config', result: 'success' });
  t.like(events(server.lines).at(-1), { action: 'shutdown', result: 'success' });
  t.like(
    events(agencies[0].lines).find((event) => event.action === 'ganadores'),
    { result: 'success', cant_ganadores: 1, dnis: inputs[0].winners },
  );
  const noWinners = events(agencies[1].lines).find((event) => event.action === 'ganadores');
  t.like(noWinners, { result: 'success', cant_ganadores: 0 });
  t.false('dnis' in noWinners!, 'no empty list of documents');
  // The demo reads each agency's winners from its lines so: under LOG_FORMAT=json too.
  t.deepEqual(winnersIn(agencies[0].lines), inputs[0].winners);
  t.deepEqual(winnersIn(agencies[1].lines), []);
  t.like(
    events(agencies[1].lines).find((event) => event.action === 'leer_apuesta'),
    { result: 'fail', linea: 31 },
  );
});

test('in the text format every event line has result success, fail or in_progress as its second field, over a whole run', async (t) => {
  const dir = await tempDir(t);
  const inputs = await writeAgencies(dir, [
    { count: 50, winnerRows: [0] },
    { count: 20, winnerRows: [19] },
  ]);
  // A bad row, so that fail lines are part of the run.
  await writeFile(inputs[0].file, `Ana,Gómez,123,1990-02-30,5\r\n${await readFile(inputs[0].file, 'utf8')}`);
  const server = await serverFor(t, join(dir, 'server'), ['--agencies', '2', '--log-level', 'debug'], { env });
  const runs = await Promise.all(
    inputs.map(
      (input, i) =>
        agencyFor(t, input.id, server.port, ['--data-file', input.file, '--skip-invalid', ...(i === 1 ? ['--log-level', 'debug'] : [])], {
          env,
        }).result,
    ),
  );
  t.deepEqual(
    runs.map((r) => r.code),
    [0, 0],
  );
  t.is(await server.stop(), 0);

  const results = new Set<string>();
  for (const [who, lines] of [
    ['server', server.lines],
    ['agency 1', runs[0].lines],
    ['agency 2', runs[1].lines],
  ] as const) {
    t.true(lines.length > 3, `${who} logged`);
    for (const line of lines) {
      t.true(line.includes('action: '), `${who} writes only event lines: ${line}`);
      if (!line.includes('action:')) continue;
      const match = TEXT_EVENT.exec(line);
      t.truthy(match, `${who}: ${line}`);
      if (match) results.add(match[2]);
    }
  }
  t.deepEqual([...results].sort(), ['fail', 'in_progress', 'success'], 'the run had every kind of result');
  t.true(
    server.lines.some((line) =>
      /DEBUG +action: apuesta_almacenada \| result: success \| agencia: 2 \| dni: \d+ \| numero: \d+$/.test(line),
    ),
  );
  t.true(runs[1].lines.some((line) => /DEBUG +action: apuesta_enviada \| result: success \| dni: \d+ \| numero: \d+$/.test(line)));
});

test('with --skip-invalid, an agency whose file has bad rows logs result: fail with each line number, stores the other rows and exits 0', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'agency-1.csv');
  const lines = [
    'Lucía,Ibáñez,66436654,1940-07-28,9683',
    'Tiago Nicolás,Fernández,74866881,1968-12-13,7574',
    'Benjamín,Pérez,32277150,1950-06-02,not-a-number',
    'Zoë,Muñoz,40111222,1977-03-03,15',
    'Tomás,Acuña,40111223,1990-02-30,16',
    'Sofía Inés,Díaz,40111224,2001-11-11,7574',
  ];
  await writeFile(file, lines.map((line) => `${line}\r\n`).join(''));
  const dataDir = join(dir, 'server');
  const server = await serverFor(t, dataDir, ['--agencies', '1'], { env });
  const result = await agencyFor(t, 1, server.port, ['--data-file', file, '--skip-invalid'], { env }).result;
  t.is(result.code, 0, result.lines.join('\n'));
  const failures = result.lines.filter((line) => / \| result: fail \| /.test(line));
  t.is(failures.length, 3, failures.join('\n'));
  t.regex(failures.shift()!, /action: leer_archivo \| result: fail \| filas: 6 \| validas: 4 \| invalidas: 2 \|/);
  t.regex(failures[0], /action: leer_apuesta \| result: fail \| linea: 3 \| error: number must be an integer/);
  t.regex(failures[1], /action: leer_apuesta \| result: fail \| linea: 5 \| error: birthdate 1990-02-30 is not a real date/);
  // Every row has an offset; the two bad ones were sent alone and refused by the server.
  t.true(
    result.lines.some((line) =>
      /action: finalizar \| result: success \| total: 6 \| enviadas: 6 \| rechazadas: 2 \| filas_invalidas: 2/.test(line),
    ),
    result.lines.join('\n'),
  );
  t.deepEqual(sorted(result.winners ?? []), ['40111224', '74866881']);
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted([0, 1, 3, 5].map((i) => `1,${lines[i]}`)));
});

test('on SIGTERM the server logs a close line per resource and ends with action: shutdown | result: success and exit code 0; its first line is an action: config | result: success line with the settings in force', async (t) => {
  const dir = await tempDir(t);
  const inputs = await writeAgencies(dir, [{ count: 30, winnerRows: [1] }]);
  const server = await serverFor(t, join(dir, 'server'), ['--agencies', '3', '--workers', '2'], { env });
  t.regex(server.lines[0], /^\S+ \S+ INFO +action: config \| result: success \| /);
  t.regex(server.lines[0], /\| agencies: 3 \|/);
  t.regex(server.lines[0], /\| workers: 2 \|/);
  // Agency 1 uploads for real; agency 2 stores a bet, finishes and is held waiting for the draw; agency 3 never comes.
  const agency = agencyFor(t, 1, server.port, ['--data-file', inputs[0].file, '--retry-timeout', '1'], { env });
  await server.waitForLine(/action: agencia_finalizada \| result: success \| agencia: 1/, { timeoutMs: 60_000 });
  const waiting = await connectRaw(server.port);
  t.teardown(() => waiting.destroy());
  waiting.send({ type: 'HELLO', agency: 2 });
  t.like(await waiting.receive(), { type: 'WELCOME', offset: 0 });
  const bet = ['Ana', 'Pérez', '123', '2000-01-01', 1] as const;
  waiting.send({ type: 'BETS', offset: 0, bets: [[...bet]] });
  t.deepEqual(await waiting.receive(), { type: 'ACK', offset: 1 });
  waiting.send({ type: 'FINISH', total: 1, digest: uploadDigestOf(2, [[...bet]]) });
  t.deepEqual(await waiting.receive(), { type: 'ACK', offset: 1 });
  waiting.send({ type: 'WINNERS' });
  waiting.send({ type: 'PING' });
  t.deepEqual(await waiting.receive(), { type: 'PONG' }, 'WINNERS is held');

  t.is(await within(server.stop(), 'the server stopping'), 0);
  t.like(await waiting.receive(), { type: 'ERROR', code: 'SERVER_STOPPING' }, 'the held WINNERS is answered');
  await within(waiting.closed, 'the held connection closing');
  await within(agency.exited, 'the agency exiting');

  const start = server.lines.findIndex((line) => /action: shutdown \| result: in_progress \| reason: SIGTERM/.test(line));
  t.true(start >= 0, 'the shutdown is announced');
  const closing = server.lines.slice(start + 1);
  const closed = closing.map((line) => /action: (close_\w+) \| result: (\w+)/.exec(line)).filter((match) => match !== null);
  t.deepEqual(
    closed.filter((match) => match[2] !== 'success').map((match) => match.input),
    [],
    'every resource closed cleanly',
  );
  const names = closed.map((match) => match[1]);
  for (const resource of ['close_acceptor', 'close_lottery', 'close_session_workers', 'close_store'])
    t.true(names.includes(resource), `${resource} is logged`);
  t.is(names.filter((name) => name === 'close_session_worker').length, 2, 'one line per session worker');
  t.true(names.indexOf('close_acceptor') < names.indexOf('close_store'), 'it stops accepting before it closes the store');
  t.regex(server.lines.at(-1)!, /INFO +action: shutdown \| result: success$/);
  t.false(
    server.lines.some((line) => /result: fail/.test(line)),
    server.lines.filter((line) => /result: fail/.test(line)).join('\n'),
  );
});
