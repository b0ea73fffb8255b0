// CSV text read back as any reader of bets.csv or of an agency's file would
// read it: with fast-csv, not with the code under test.
import { parseString } from 'fast-csv';

/** The records of CSV `text`, each the array of its fields. */
export function csvRecords(text: string): Promise<string[][]> {
  return new Promise((resolve, reject) => {
    const records: string[][] = [];
    parseString(text, { headers: false })
      .on('data', (record: string[]) => records.push(record))
      .on('error', reject)
      .on('end', () => resolve(records));
  });
}
