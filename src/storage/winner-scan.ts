// Finds the winning bets in bets.csv without parsing every row. The draw
// runs over everything ever stored (ten million rows is a normal day), and a
// general CSV parser spends its time on names the draw never looks at.
//
// This is exact for the file the Store writes (see src/bets/bets-csv.ts):
// one bet per line, since names cannot hold a line break; the number is the
// last field, written as plain digits; agency, document and birthdate are
// never quoted. So a winning row is exactly a line ending in ",7574", and
// the fields the draw needs can be read from the two ends of the line.

import { open } from 'node:fs/promises';

const CHUNK_BYTES = 4 * 1024 * 1024;
const NEWLINE = 0x0a;

export type WinningRow = { agency: number; document: string };

/** Calls `onWinner` for each row of `path`'s first `end` bytes whose number is `winningNumber`, in file order. */
export async function scanWinners(path: string, end: number, winningNumber: number, onWinner: (row: WinningRow) => void): Promise<void> {
  const needle = Buffer.from(`,${winningNumber}\n`);
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let carried = 0; // bytes of an unfinished line kept at the start of `buffer`
    let position = 0;
    while (position < end) {
      const { bytesRead } = await handle.read(buffer, carried, Math.min(CHUNK_BYTES - carried, end - position), position);
      if (bytesRead === 0) throw new Error(`${path} ended at byte ${position}, before the ${end} bytes committed`);
      position += bytesRead;
      const filled = carried + bytesRead;
      const lastLineEnd = buffer.lastIndexOf(NEWLINE, filled - 1);
      if (lastLineEnd < 0) {
        if (filled === CHUNK_BYTES) throw new Error(`${path} has a line longer than ${CHUNK_BYTES} bytes near byte ${position}`);
        carried = filled;
        continue;
      }
      for (let hit = buffer.indexOf(needle); hit >= 0 && hit < lastLineEnd; hit = buffer.indexOf(needle, hit + 1)) {
        const lineStart = buffer.lastIndexOf(NEWLINE, hit) + 1;
        onWinner(readWinningRow(buffer, lineStart, hit));
      }
      // The unfinished last line moves to the front for the next read.
      carried = filled - (lastLineEnd + 1);
      buffer.copy(buffer, 0, lastLineEnd + 1, filled);
    }
  } finally {
    await handle.close();
  }
}

/** Reads agency and document from a line `agency,…,document,birthdate` ending at `numberComma`. */
function readWinningRow(buffer: Buffer, lineStart: number, numberComma: number): WinningRow {
  const birthdateComma = buffer.lastIndexOf(0x2c, numberComma - 1);
  const documentComma = buffer.lastIndexOf(0x2c, birthdateComma - 1);
  const agencyComma = buffer.indexOf(0x2c, lineStart);
  return {
    agency: Number(buffer.toString('latin1', lineStart, agencyComma)),
    document: buffer.toString('latin1', documentComma + 1, birthdateComma),
  };
}
