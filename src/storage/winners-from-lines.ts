// The draw's winners, found in canonical lines (src/bets/canonical-bet.ts)
// as they are committed or read back: a winning bet is a line ending in
// `\t<winning number>\n`, and its agency and document are its first and
// fourth fields. The Store keeps them as it commits, so the draw reads
// nothing but what was committed and verified (an edit of bets.csv after
// the fact is not drawn); recovery and lottery-verify find them again from
// the verified file and compare them with the draw's record.
import { WINNING_NUMBER } from '../bets/bet.ts';
import type { Winners } from '../ledger/index.ts';

const NEWLINE = 0x0a;

export class WinnersFromLines {
  readonly #needle = Buffer.from(`\t${WINNING_NUMBER}\n`);
  /** Winning documents by agency id, in the order the lines came. */
  readonly #found = new Map<number, string[]>();

  /** Takes whole canonical lines. */
  add(lines: Uint8Array): void {
    const bytes = Buffer.isBuffer(lines) ? lines : Buffer.from(lines.buffer, lines.byteOffset, lines.length);
    for (let hit = bytes.indexOf(this.#needle); hit >= 0; hit = bytes.indexOf(this.#needle, hit + 1)) {
      const lineStart = bytes.lastIndexOf(NEWLINE, hit) + 1;
      const fields = bytes.toString('utf8', lineStart, hit).split('\t');
      const agency = Number(fields[0]);
      let documents = this.#found.get(agency);
      if (documents === undefined) this.#found.set(agency, (documents = []));
      documents.push(fields[3]);
    }
  }

  /** The draw's outcome for agencies 1..`agencies`: every agency named, one with no winner with none. */
  winners(agencies: number): Winners {
    const winners: Winners = {};
    for (let agency = 1; agency <= agencies; agency++) winners[agency] = [...(this.#found.get(agency) ?? [])];
    for (const [agency, documents] of this.#found) if (agency > agencies) winners[agency] = [...documents];
    return winners;
  }

  copy(): WinnersFromLines {
    const copy = new WinnersFromLines();
    for (const [agency, documents] of this.#found) copy.#found.set(agency, [...documents]);
    return copy;
  }
}
