import test from 'ava';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PER_BATCH_ACTIONS, colorWanted, createLogger, formatTextLine, logConfig, logEvent, withFields } from '../src/log/logger.ts';

// Local time, as the text line shows it: 2026-11-22 13:21:05 wherever the test runs.
const time = new Date(2026, 10, 22, 13, 21, 5).getTime();
const line = (fields: Record<string, unknown>) => formatTextLine(JSON.stringify({ level: 30, time, ...fields }));

test('the text line is date, time, level padded to 8, then action and result', (t) => {
  t.is(
    line({ action: 'apuesta_recibida', result: 'success', cantidad: 64 }),
    '2026-11-22 13:21:05 INFO     action: apuesta_recibida | result: success | cantidad: 64\n',
  );
});

test('action comes first and result second whatever the key order', (t) => {
  const expected = '2026-11-22 13:21:05 INFO     action: x | result: y | k: v | n: 2\n';
  t.is(line({ k: 'v', result: 'y', n: 2, action: 'x' }), expected);
  t.is(line({ result: 'y', action: 'x', k: 'v', n: 2 }), expected);
  t.is(formatTextLine(JSON.stringify({ k: 'v', n: 2, result: 'y', time, action: 'x', level: 30 })), expected);
});

test('details keep their order after action and result', (t) => {
  t.is(
    line({ dni: '30904465', action: 'apuesta_almacenada', numero: 7574, result: 'success' }),
    '2026-11-22 13:21:05 INFO     action: apuesta_almacenada | result: success | dni: 30904465 | numero: 7574\n',
  );
});

test('every level is named and padded to 8 characters', (t) => {
  const levels: Array<[number, string]> = [
    [10, 'TRACE   '],
    [20, 'DEBUG   '],
    [30, 'INFO    '],
    [40, 'WARNING '],
    [50, 'ERROR   '],
    [60, 'CRITICAL'],
  ];
  for (const [level, name] of levels) {
    t.is(
      formatTextLine(JSON.stringify({ level, time, action: 'a', result: 'fail' })),
      `2026-11-22 13:21:05 ${name} action: a | result: fail\n`,
    );
  }
});

test('single-digit date and time fields are zero-padded', (t) => {
  const early = new Date(2026, 0, 2, 3, 4, 5).getTime();
  t.is(
    formatTextLine(JSON.stringify({ level: 30, time: early, action: 'a', result: 'success' })),
    '2026-01-02 03:04:05 INFO     action: a | result: success\n',
  );
});

test('values are shown plainly: strings bare, arrays joined by commas, others as JSON', (t) => {
  t.is(
    line({ action: 'consulta_ganadores', result: 'success', ganadores: ['1', '2'], sorteo: true, extra: { a: 1 }, nada: null }),
    '2026-11-22 13:21:05 INFO     action: consulta_ganadores | result: success | ganadores: 1,2 | sorteo: true | extra: {"a":1} | nada: null\n',
  );
});

test('a plain message goes last', (t) => {
  t.is(
    line({ msg: 'hello', action: 'a', result: 'in_progress', k: 1 }),
    '2026-11-22 13:21:05 INFO     action: a | result: in_progress | k: 1 | message: hello\n',
  );
});

test('a logger in text format writes course lines, one per event', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'log.txt');
  const file = await open(path, 'w');
  try {
    const log = createLogger({ level: 'info', format: 'text', fd: file.fd });
    logEvent(log, 'info', 'apuesta_recibida', 'success', { cantidad: 64 });
    logEvent(log, 'debug', 'apuesta_almacenada', 'success', { dni: '1', numero: 2 });
    logEvent(log, 'warn', 'recover_bets', 'fail', { cut_bytes: 10 });
    logConfig(log, { port: 12345, config: '' });
  } finally {
    await file.close();
  }
  const lines = (await readFile(path, 'utf8')).split('\n');
  t.is(lines.pop(), '');
  const stamp = String.raw`\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}`;
  t.is(lines.length, 3, 'the debug event is below the level');
  t.regex(lines[0], new RegExp(`^${stamp} INFO     action: apuesta_recibida \\| result: success \\| cantidad: 64$`));
  t.regex(lines[1], new RegExp(`^${stamp} WARNING  action: recover_bets \\| result: fail \\| cut_bytes: 10$`));
  t.regex(lines[2], new RegExp(`^${stamp} INFO     action: config \\| result: success \\| port: 12345$`));
});

test('a logger in json format writes pino JSON with action and result', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'log.json');
  const file = await open(path, 'w');
  try {
    logEvent(createLogger({ level: 'info', format: 'json', fd: file.fd }), 'info', 'sorteo', 'success', { cant_ganadores: 3 });
  } finally {
    await file.close();
  }
  const record = JSON.parse(await readFile(path, 'utf8'));
  t.like(record, { level: 'info', action: 'sorteo', result: 'success', cant_ganadores: 3 });
  t.regex(record.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  t.is(new Date(record.time).toISOString(), record.time);
});

test('json logs keep lists as arrays and name every level', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'log.json');
  const file = await open(path, 'w');
  try {
    const log = createLogger({ level: 'debug', format: 'json', fd: file.fd });
    logEvent(log, 'debug', 'a', 'success');
    logEvent(log, 'info', 'ganadores', 'success', { dnis: ['1', '22'] });
    logEvent(log, 'warn', 'c', 'fail');
    logEvent(log, 'error', 'd', 'fail');
  } finally {
    await file.close();
  }
  const records = (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  t.deepEqual(
    records.map((record) => record.level),
    ['debug', 'info', 'warn', 'error'],
  );
  t.deepEqual(records[1].dnis, ['1', '22']);
});

test('text lines colour their level only when asked: warnings yellow, errors red, info plain', (t) => {
  const coloured = (level: number) => formatTextLine(JSON.stringify({ level, time, action: 'a', result: 'fail' }), { color: true });
  t.is(coloured(40), '2026-11-22 13:21:05 \x1b[33mWARNING \x1b[0m action: a | result: fail\n');
  t.is(coloured(50), '2026-11-22 13:21:05 \x1b[31mERROR   \x1b[0m action: a | result: fail\n');
  t.is(coloured(30), '2026-11-22 13:21:05 INFO     action: a | result: fail\n');
  t.is(
    formatTextLine(JSON.stringify({ level: 50, time, action: 'a', result: 'fail' })),
    '2026-11-22 13:21:05 ERROR    action: a | result: fail\n',
  );
});

test('colour is wanted on a terminal only, and never with NO_COLOR set', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = await open(join(dir, 'log.txt'), 'w');
  t.teardown(() => file.close());
  t.false(colorWanted(file.fd, {}), 'a file is not a terminal');
});

test('per-batch success lines can be dropped while sorteo, other events and every failure stay, in either format', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const format of ['text', 'json'] as const) {
    const path = join(dir, `kept.${format}`);
    const file = await open(path, 'w');
    try {
      const log = createLogger({ level: 'info', format, fd: file.fd, dropSuccessOf: PER_BATCH_ACTIONS });
      logEvent(log, 'info', 'apuesta_recibida', 'success', { cantidad: 64 });
      logEvent(log, 'warn', 'apuesta_recibida', 'fail', { cantidad: 3, error: 'bad' });
      logEvent(log.child({ agencia: 2 }), 'info', 'apuesta_recibida', 'success', { cantidad: 64 });
      logEvent(log, 'info', 'sorteo', 'success', { cant_ganadores: 3 });
    } finally {
      await file.close();
    }
    const lines = (await readFile(path, 'utf8')).split('\n').filter((line) => line !== '');
    t.is(lines.length, 2, format);
    t.true(lines[0].includes('apuesta_recibida') && lines[0].includes('fail'), format);
    t.true(lines[1].includes('sorteo'), format);
  }
});

test("an agency's JSON lines carry its id; its text lines keep the course's format", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const lines: Record<string, string> = {};
  for (const format of ['text', 'json'] as const) {
    const path = join(dir, `agency.${format}`);
    const file = await open(path, 'w');
    try {
      logEvent(createLogger({ level: 'info', format, fd: file.fd, jsonFields: { agencia: 4 } }), 'info', 'consulta_ganadores', 'success', {
        cant_ganadores: 1,
      });
    } finally {
      await file.close();
    }
    lines[format] = await readFile(path, 'utf8');
  }
  t.like(JSON.parse(lines.json), { agencia: 4, action: 'consulta_ganadores', result: 'success', cant_ganadores: 1 });
  t.regex(lines.text, /INFO {5}action: consulta_ganadores \| result: success \| cant_ganadores: 1\n$/);
});

test("a session's lines carry its agency: in JSON after the event's fields, action first; in text right after result", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const lines: Record<string, string> = {};
  for (const format of ['text', 'json'] as const) {
    const path = join(dir, `session.${format}`);
    const file = await open(path, 'w');
    try {
      const session = withFields(createLogger({ level: 'info', format, fd: file.fd }), { agencia: 3 });
      logEvent(session, 'info', 'apuesta_recibida', 'success', { cantidad: 64 });
      // The event's own value wins over the logger's.
      logEvent(session, 'warn', 'conexion', 'fail', { agencia: 5, code: 'REPLACED' });
    } finally {
      await file.close();
    }
    lines[format] = await readFile(path, 'utf8');
  }
  const [first, second] = lines.json.trimEnd().split('\n');
  t.deepEqual(Object.keys(JSON.parse(first)), ['level', 'time', 'action', 'result', 'cantidad', 'agencia']);
  t.like(JSON.parse(first), { action: 'apuesta_recibida', agencia: 3 });
  t.deepEqual(Object.keys(JSON.parse(second)), ['level', 'time', 'action', 'result', 'agencia', 'code']);
  t.is(JSON.parse(second).agencia, 5);
  const [text1, text2] = lines.text.trimEnd().split('\n');
  t.regex(text1, /INFO {5}action: apuesta_recibida \| result: success \| agencia: 3 \| cantidad: 64$/);
  t.regex(text2, /WARNING  action: conexion \| result: fail \| agencia: 5 \| code: REPLACED$/);
});
