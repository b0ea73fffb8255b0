// An agency and its bets file, through the real programs: a file that cannot
// be read to its end, that holds invalid rows (without --skip-invalid) or no
// valid row at all stops it before it connects; and offsets number the file's
// rows whatever the agency or the clock thinks of them.
import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLOSED_PORT } from '../src/harness/lottery-processes.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { connectRaw } from './helpers/raw-connection.ts';
import { agencyFor, serverFor, sorted, storedRows, tempDir, within } from './helpers/lottery-fixtures.ts';

test('a missing bets file stops the agency at once with exit 2 and one line, before it tries the server', async (t) => {
  const dir = await tempDir(t);
  // Nothing listens on this port: an agency that tried it would retry for ten minutes.
  const file = join(dir, 'agency-1.csv');
  const run = await within(agencyFor(t, 1, CLOSED_PORT, ['--data-file', file, '--retry-timeout', '600']).result, 'the agency exiting');
  t.is(run.code, 2, run.lines.join('\n'));
  const failures = run.lines.filter((line) => /result: fail/.test(line));
  t.is(failures.length, 1, failures.join('\n'));
  t.regex(failures[0], new RegExp(`action: agencia \\| result: fail \\| error: the bets file ${file} does not exist$`));
  t.false(run.lines.some((line) => /action: conexion/.test(line)));
});

test('a directory given as the bets file stops the agency with exit 2, saying so', async (t) => {
  const dir = await tempDir(t);
  const run = await within(agencyFor(t, 1, CLOSED_PORT, ['--data-file', dir]).result, 'the agency exiting');
  t.is(run.code, 2, run.lines.join('\n'));
  t.true(
    run.lines.some((line) => line.endsWith(`error: the bets file ${dir} is a directory`)),
    run.lines.join('\n'),
  );
  t.false(run.lines.some((line) => /EISDIR|action: conexion/.test(line)));
});

test('an unclosed quote stops the agency before it connects, with exit 2 naming the line: nothing is uploaded, even with --skip-invalid', async (t) => {
  const dir = await tempDir(t);
  const lines = generateBets({ seed: 51, count: 3000 }).map((bet) => bet.join(','));
  lines.splice(2400, 0, 'Ana,"Paz,111,1990-01-01,7574');
  const file = join(dir, 'agency-1.csv');
  await writeFile(file, lines.map((line) => `${line}\r\n`).join(''));
  // Nothing listens on this port: an agency that tried it would retry for ten minutes.
  const run = await within(
    agencyFor(t, 1, CLOSED_PORT, ['--data-file', file, '--skip-invalid', '--retry-timeout', '600']).result,
    'the agency exiting',
  );
  t.is(run.code, 2, run.lines.join('\n'));
  t.true(
    run.lines.some((line) =>
      /action: agencia \| result: fail \| error: the bets file .* cannot be read at line 2401 \(missing closing: '"'\): nothing was uploaded/.test(
        line,
      ),
    ),
    run.lines.join('\n'),
  );
  t.false(
    run.lines.some((line) => /action: conexion/.test(line)),
    'no connection for a file that cannot be read to its end',
  );
});

test('a file with invalid rows is not uploaded without --skip-invalid: exit 2 naming the first problems and the option, before it connects', async (t) => {
  const dir = await tempDir(t);
  const lines = generateBets({ seed: 54, count: 20 }).map((bet) => bet.join(','));
  lines.splice(5, 0, 'Fut,Ure,123,2999-01-01,5');
  const file = join(dir, 'agency-1.csv');
  await writeFile(file, lines.map((line) => `${line}\n`).join(''));
  const run = await within(agencyFor(t, 1, CLOSED_PORT, ['--data-file', file, '--retry-timeout', '600']).result, 'the agency exiting');
  t.is(run.code, 2, run.lines.join('\n'));
  const failures = run.lines.filter((line) => /result: fail/.test(line));
  t.is(failures.length, 1, failures.join('\n'));
  t.regex(
    failures[0],
    /has 1 invalid rows of 21 \(line 6: birthdate 2999-01-01 is in the future\): nothing was uploaded; .*--skip-invalid/,
  );
  t.false(run.lines.some((line) => /action: conexion/.test(line)));
});

test('a file with no valid row is never uploaded, even with --skip-invalid, and a header, a separator or an encoding is named', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'agency-1.csv');
  await writeFile(file, 'Ana;Paz;123;1990-01-01;7\nJosé;Ruiz;456;1980-02-02;8\n');
  const run = await within(
    agencyFor(t, 1, CLOSED_PORT, ['--data-file', file, '--skip-invalid', '--retry-timeout', '600']).result,
    'the agency',
  );
  t.is(run.code, 2, run.lines.join('\n'));
  t.true(
    run.lines.some((line) => /holds no valid bet \(2 invalid rows; .*separated by ';'.*: nothing was uploaded$/.test(line)),
    run.lines.join('\n'),
  );
  t.false(run.lines.some((line) => /action: conexion/.test(line)));
});

test('offsets count every row of the file: after a reconnect the agency resumes at the right row even past rows the server refused', async (t) => {
  const dir = await tempDir(t);
  const bets = generateBets({ seed: 52, count: 4 });
  // A birthdate in the future: refused today, by the agency and by the server, but it has its offset.
  const future: WireBet = ['Fut', 'Ure', '123', '2999-01-01', 5];
  const [r0, r1, r2, r3, r4] = [bets[0], future, ...bets.slice(1)].map((bet) => bet.join(','));
  const file = join(dir, 'agency-1.csv');
  await writeFile(file, [r0, r1, r2, r3, r4].map((line) => `${line}\n`).join(''));
  const dataDir = join(dir, 'server');
  await mkdir(dataDir);
  const server = await serverFor(t, dataDir, ['--agencies', '1']);
  // A first connection that got as far as row 2, as the agency sends them: r1 in a batch of its own.
  const raw = await connectRaw(server.port);
  raw.send({ type: 'HELLO', agency: 1 });
  t.like(await raw.receive(), { type: 'WELCOME', offset: 0 });
  raw.send({ type: 'BETS', offset: 0, bets: [bets[0]] });
  t.like(await raw.receive(), { type: 'ACK', offset: 1 });
  raw.send({ type: 'BETS', offset: 1, bets: [future] });
  t.like(await raw.receive(), { type: 'ERROR', code: 'INVALID_BET', offset: 1, next: 2 });
  raw.send({ type: 'BETS', offset: 2, bets: [bets[1]] });
  t.like(await raw.receive(), { type: 'ACK', offset: 3 });
  raw.destroy();

  const run = await within(agencyFor(t, 1, server.port, ['--data-file', file, '--skip-invalid']).result, 'the agency exiting');
  t.is(run.code, 0, run.lines.join('\n'));
  t.true(
    run.lines.some((line) => /action: conexion \| result: success \| offset: 3 \|/.test(line)),
    run.lines.join('\n'),
  );
  t.true(
    run.lines.some((line) => /action: finalizar \| result: success \| total: 5 \| enviadas: 2 \|/.test(line)),
    run.lines.join('\n'),
  );
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted([r0, r2, r3, r4].map((line) => `1,${line}`)));
});

test('a row the agency refuses goes alone, so the server refuses it and not the bets around it', async (t) => {
  const dir = await tempDir(t);
  const lines = generateBets({ seed: 53, count: 300 }).map((bet) => bet.join(','));
  lines.splice(150, 0, 'Fut,Ure,123,2999-01-01,5', 'Too,Few,fields');
  const file = join(dir, 'agency-1.csv');
  await writeFile(file, lines.map((line) => `${line}\r\n`).join(''));
  const dataDir = join(dir, 'server');
  const server = await serverFor(t, dataDir, ['--agencies', '1']);
  const run = await within(agencyFor(t, 1, server.port, ['--data-file', file, '--skip-invalid']).result, 'the agency exiting');
  t.is(run.code, 0, run.lines.join('\n'));
  t.deepEqual(
    run.lines.filter((line) => /action: leer_apuesta \| result: fail/.test(line)).map((line) => /linea: (\d+)/.exec(line)?.[1]),
    ['151', '152'],
  );
  t.is(
    server.lines.filter((line) => /action: apuesta_recibida \| result: fail \| .*cantidad: 1 \|/.test(line)).length,
    2,
    server.lines.join('\n'),
  );
  t.true(
    run.lines.some((line) =>
      /action: finalizar \| result: success \| total: 302 \| enviadas: 302 \| rechazadas: 2 \| filas_invalidas: 2/.test(line),
    ),
    run.lines.join('\n'),
  );
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted([...lines.slice(0, 150), ...lines.slice(152)].map((line) => `1,${line}`)));
});
