// lottery-export from a data dir: the committed bets only, by agency then
// offset, in the course's columns; a dir with no lottery refused in one line.
import test from 'ava';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Store } from '../src/actors/store.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { formatBetRow } from '../src/bets/bets-csv.ts';
import { startProgram } from '../src/harness/lottery-processes.ts';
import { createLogger } from '../src/log/logger.ts';
import { EXPORT_HEADER } from '../src/storage/export-bets.ts';
import { tempDir } from './helpers/lottery-fixtures.ts';

const log = createLogger({ level: 'silent', format: 'text' });

test('the committed bets of a data dir, by agency then offset, with a header; an uncommitted tail left out', async (t) => {
  const dir = await tempDir(t);
  const one = generateBets({ seed: 1, count: 6 });
  const two = generateBets({ seed: 2, count: 4 });
  one[1] = ['Ana, "la"', one[1][1], one[1][2], one[1][3], one[1][4]];
  const store = await Store.open({ dataDir: dir, fsync: false, log });
  const rows = (agency: number, bets: typeof one, from: number, to: number) => ({
    agency,
    offset: from,
    count: to - from,
    rows: encodeCanonicalLines(agency, bets.slice(from, to)),
  });
  await store.append(rows(2, two, 0, 2));
  await store.append(rows(1, one, 0, 3));
  await store.append(rows(2, two, 2, 4));
  await store.append(rows(1, one, 3, 6));
  await store.close();
  // A row past the journal's last commit, as a crash mid-write leaves: never acknowledged, not exported.
  await appendFile(join(dir, 'bets.csv'), '9,Not,Committed,1,2000-01-01,1\n');
  const out = join(dir, 'export.csv');
  const program = startProgram('lottery-export', ['--data-dir', dir, '--out', out]);
  t.is(await program.exited, 0);
  t.is(
    await readFile(out, 'utf8'),
    EXPORT_HEADER + one.map((bet) => formatBetRow(1, bet)).join('') + two.map((bet) => formatBetRow(2, bet)).join(''),
  );
});

test('a directory that holds no lottery is refused in one line, exit 1', async (t) => {
  const dir = await tempDir(t);
  const program = startProgram('lottery-export', ['--data-dir', dir]);
  t.is(await program.exited, 1);
  // One line, and no header before it: nothing that looks like an export.
  t.deepEqual(program.lines, [`lottery-export: cannot read the data dir ${dir}: ${dir} holds no bets.journal: it holds no lottery`]);
});
