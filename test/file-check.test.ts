// The agency's check of its whole file before it connects: a pure tally of
// the rows, the summary --check prints and the rule for uploading.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTally, KEEP_ROWS_MAX_BYTES, checkBetFile, describeCheck, reasonOf, uploadRefusal } from '../src/agency/file-check.ts';
import { keptBetRows, readBetRows, type BetRow } from '../src/agency/bet-source.ts';
import { betFromFields } from '../src/bets/bet.ts';
import { CsvSyntaxError, InvalidBetError } from '../src/errors.ts';

function tally(lines: string[][]): FileTally {
  const tallied = new FileTally();
  lines.forEach((fields, offset) => {
    let row: BetRow;
    try {
      row = { offset, line: offset + 1, bet: betFromFields(fields, '2026-01-01') };
    } catch (error) {
      if (!(error instanceof InvalidBetError)) throw error;
      row = { offset, line: offset + 1, invalid: error.message, fields };
    }
    tallied.add(row);
  });
  return tallied;
}

const good = (n: number) => ['Ana', 'Paz', String(1000 + n), '1990-01-01', String(n)];

test('reasons are grouped without the value that made them', (t) => {
  t.is(reasonOf('number must be an integer from 0 to 9999, got "x"'), 'number must be an integer from 0 to 9999');
  t.is(reasonOf('birthdate 1990-02-30 is not a real date'), 'birthdate is not a real date');
  t.is(
    reasonOf('first_name must not contain bytes that are not valid UTF-8: U+FFFD at character 4 of "Jos\\u{FFFD}"'),
    'first_name must not contain bytes that are not valid UTF-8',
  );
});

test('a clean file counts its rows and is uploaded', (t) => {
  const check = tally([good(1), good(2)]).result();
  t.like(check, { rows: 2, valid: 2, invalid: 0, reasons: [], hints: [] });
  t.is(uploadRefusal('f.csv', check, false), undefined);
  t.deepEqual(describeCheck('f.csv', check), ['f.csv: 2 rows read, 2 valid bets, 0 invalid rows']);
});

test('invalid rows are counted by reason with their first five lines, most frequent first', (t) => {
  const rows = [good(0)];
  for (let i = 1; i <= 7; i++) rows.push(['Ana', 'Paz', '1', '1990-01-01', `x${i}`]);
  rows.push(['Ana', 'Paz', '1', '1990-02-30', '5']);
  const check = tally(rows).result();
  t.like(check, { rows: 9, valid: 1, invalid: 8 });
  t.is(check.reasons.length, 2);
  t.like(check.reasons[0], { count: 7, firstLines: [2, 3, 4, 5, 6] });
  t.like(check.reasons[1], { count: 1, firstLines: [9] });
  const summary = describeCheck('f.csv', check);
  t.is(summary[1], '  7 × number must be an integer from 0 to 9999, got "x1" (lines 2, 3, 4, 5, 6, …)');
});

test('a file with invalid rows is refused without --skip-invalid, naming the option; taken with it', (t) => {
  const check = tally([good(1), ['Ana', 'Paz', '1', '2999-01-01', '5']]).result();
  t.regex(uploadRefusal('f.csv', check, false)!, /1 invalid rows of 2 \(line 2: birthdate 2999-01-01 is in the future\).*--skip-invalid/);
  t.is(uploadRefusal('f.csv', check, true), undefined);
});

test('a file with no valid row, or no row, is never uploaded, even with --skip-invalid', (t) => {
  t.regex(uploadRefusal('f.csv', tally([['a', 'b']]).result(), true)!, /holds no valid bet/);
  t.regex(uploadRefusal('f.csv', tally([]).result(), true)!, /holds no rows/);
});

test('a file the CSV reader cannot read to its end is never uploaded', (t) => {
  const tallied = tally([good(1)]);
  tallied.syntaxError(new CsvSyntaxError(2, "missing closing: '\"'"));
  t.regex(uploadRefusal('f.csv', tallied.result(), true)!, /cannot be read at line 2 \(missing closing: '"'\): nothing was uploaded/);
});

test('a header line is named as such', (t) => {
  const check = tally([['first_name', 'last_name', 'document', 'birthdate', 'number'], good(1)]).result();
  t.true(check.hints.some((hint) => /line 1 looks like a header/.test(hint)));
  // A row whose number is a word further down is no header.
  t.deepEqual(tally([good(1), ['Ana', 'Paz', '1', '1990-01-01', 'seven']]).result().hints, []);
});

test('bytes that are not UTF-8 suggest another encoding', (t) => {
  const check = tally([['Jos\ufffd', 'Ruiz', '1', '1990-01-01', '5']]).result();
  t.true(check.hints.some((hint) => /not UTF-8: .*Latin-1/.test(hint)));
});

test('rows of one field holding ; or a tab suggest the separator', (t) => {
  t.true(
    tally([['Ana;Paz;1;1990-01-01;5']])
      .result()
      .hints.some((hint) => /separated by ';'/.test(hint)),
  );
  t.true(
    tally([['Ana\tPaz\t1\t1990-01-01\t5']])
      .result()
      .hints.some((hint) => /separated by tabs/.test(hint)),
  );
  t.deepEqual(tally([['Ana', 'Paz']]).result().hints, []);
});

test('the check keeps the rows it read, as readBetRows gives them, for the upload to send from, from any offset', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'file-check-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'agency-1.csv');
  await writeFile(file, 'Ana,Paz,1001,1990-01-01,1\r\nBad,Row,x,1990-01-01,2\r\n"Quoted, Name",Paz,1003,1990-01-01,3\r\n');
  const read: BetRow[] = [];
  for await (const chunk of readBetRows(file)) read.push(...chunk);

  const check = await checkBetFile(file, { keepRows: true });
  t.is(check.rows, 3);
  t.deepEqual(check.keptRows, read);
  t.deepEqual(
    check.keptRows!.map((row) => row.offset),
    [0, 1, 2],
  );
  const from = async (skip: number) => {
    const rows: BetRow[] = [];
    for await (const chunk of keptBetRows(check.keptRows!, skip)) rows.push(...chunk);
    return rows;
  };
  t.deepEqual(await from(0), read);
  t.deepEqual(await from(2), read.slice(2));
  t.deepEqual(await from(3), []);
  t.is((await checkBetFile(file)).keptRows, undefined, 'only when asked for');
});

test('the check keeps no rows of a file it cannot read to its end, nor of one past the size bound', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'file-check-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const broken = join(dir, 'broken.csv');
  await writeFile(broken, 'Ana,Paz,1001,1990-01-01,1\n"unterminated,Paz,1002,1990-01-01,2\n');
  const check = await checkBetFile(broken, { keepRows: true });
  t.not(check.syntaxError, undefined);
  t.is(check.keptRows, undefined);

  const large = join(dir, 'large.csv');
  const line = 'Ana,Paz,1001,1990-01-01,1\n';
  await writeFile(large, line.repeat(Math.ceil((KEEP_ROWS_MAX_BYTES + 1) / line.length)));
  const big = await checkBetFile(large, { keepRows: true });
  t.true(big.rows > 0 && big.invalid === 0);
  t.is(big.keptRows, undefined, 'read again as it is sent');
});
