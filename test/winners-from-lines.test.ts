// The draw's winners as the Store keeps them while it commits and recovery
// finds them again: from canonical lines, checked against a general CSV
// parser reading the same bets as bets.csv rows.
import test from 'ava';
import { WINNING_NUMBER } from '../src/bets/bet.ts';
import { generateBets } from '../src/bets/bet-generator.ts';
import { encodeBetRows } from '../src/bets/bets-csv.ts';
import { CanonicalFromCsv, encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { WinnersFromLines } from '../src/storage/winners-from-lines.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { csvRecords } from './helpers/csv-records.ts';

/** The winners as a general CSV parser reads them from bets.csv rows: the reference. */
async function winnersByParsing(rows: Uint8Array, agencies: number): Promise<Record<string, string[]>> {
  const winners: Record<string, string[]> = {};
  for (let agency = 1; agency <= agencies; agency++) winners[agency] = [];
  for (const row of await csvRecords(Buffer.from(rows).toString('utf8'))) {
    if (row[5] === String(WINNING_NUMBER)) winners[row[0]].push(row[3]);
  }
  return winners;
}

test('finds exactly the winners a CSV parser finds, fed in chunks of any size, in file order', async (t) => {
  const rows: Uint8Array[] = [];
  const lines: Uint8Array[] = [];
  for (let agency = 1; agency <= 4; agency++) {
    const bets = generateBets({ seed: agency, count: 5_000, winnerRows: Array.from({ length: 25 }, (_, i) => i * 197 + agency) });
    rows.push(encodeBetRows(agency, bets));
    lines.push(encodeCanonicalLines(agency, bets));
  }
  const expected = await winnersByParsing(Buffer.concat(rows), 5);
  t.is(Object.values(expected).flat().length, 100);
  const found = new WinnersFromLines();
  for (const chunk of lines) found.add(chunk);
  t.deepEqual(found.winners(5), expected, 'agency 5, with no bets, is named with none');
  // As recovery feeds it: bets.csv read back in odd-sized chunks, whole lines out.
  const csv = Buffer.concat(rows);
  const canonical = new CanonicalFromCsv();
  const again = new WinnersFromLines();
  for (let at = 0; at < csv.length; at += 65_537) again.add(canonical.push(csv.subarray(at, at + 65_537)));
  t.deepEqual(again.winners(5), expected);
});

test('is not fooled by names that hold the winning number, quoted or not', async (t) => {
  const bets: WireBet[] = [
    ['Ana ,7574', '"Pérez" 7574', '111', '1990-01-01', 7574],
    ['Juan 7574', 'Gómez', '222', '1991-02-02', 1234],
    ['Luz', 'Díaz,7574', '333', '1992-03-03', 7574],
    ['Sol', 'Paz', '444', '1993-04-04', 17574],
  ];
  const found = new WinnersFromLines();
  found.add(encodeCanonicalLines(2, bets));
  t.deepEqual(found.winners(2), { 1: [], 2: ['111', '333'] });
  t.deepEqual(found.winners(2), await winnersByParsing(encodeBetRows(2, bets), 2));
});

test('a copy goes on alone: what a group adds is dropped with it if the group fails', (t) => {
  const found = new WinnersFromLines();
  found.add(encodeCanonicalLines(1, [['Eva', 'Ríos', '1', '1980-01-01', WINNING_NUMBER]]));
  const group = found.copy();
  group.add(encodeCanonicalLines(1, [['Tom', 'Paz', '2', '1981-01-01', WINNING_NUMBER]]));
  t.deepEqual(found.winners(1), { 1: ['1'] });
  t.deepEqual(group.winners(1), { 1: ['1', '2'] });
});
