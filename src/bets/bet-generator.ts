// Deterministic sample bets, for the demo, the tests and the benchmark. The
// same seed always gives the same bets; winners sit exactly where asked, and
// no other bet carries the winning number.

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { WINNING_NUMBER } from './bet.ts';
import { csvField } from './bets-csv.ts';
import type { WireBet } from '../wire/messages.ts';

const FIRST_NAMES = [
  'Santiago Lionel',
  'Agustín Emanuel',
  'Tiago Nicolás',
  'María José',
  'Lucía',
  'Martina Belén',
  'Joaquín',
  'Valentina',
  'Tomás',
  'Sofía Inés',
  'Mateo',
  'Camila Ayelén',
  'Benjamín',
  'Florencia',
  'Ramón',
  'Zoë',
];
const LAST_NAMES = [
  'Lorca',
  'Zambrano',
  'Rivera',
  'Núñez',
  'Pérez',
  'Gómez',
  'Fernández',
  'Saldaña',
  'Mejía',
  'Ibáñez',
  'Ortiz',
  'Muñoz',
  'Acuña',
  'García Márquez',
  'Díaz',
  "O'Connor",
];

/** mulberry32: small, fast, and the same everywhere. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type GenerateOptions = {
  seed: number;
  count: number;
  /** Rows (0-based) that win; every other row's number is not the winning one. */
  winnerRows?: Iterable<number>;
};

export function generateBets({ seed, count, winnerRows = [] }: GenerateOptions): WireBet[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const winners = new Set(winnerRows);
  const bets: WireBet[] = [];
  for (let row = 0; row < count; row++) {
    const document = String(10_000_000 + Math.floor(random() * 89_999_999));
    const year = 1940 + Math.floor(random() * 66);
    const month = 1 + Math.floor(random() * 12);
    const day = 1 + Math.floor(random() * 28);
    const birthdate = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
    let number = Math.floor(random() * 9999);
    if (number >= WINNING_NUMBER) number++;
    bets.push([pick(FIRST_NAMES), pick(LAST_NAMES), document, birthdate, winners.has(row) ? WINNING_NUMBER : number]);
  }
  return bets;
}

/** Writes bets as an agency file: first_name,last_name,document,birthdate,number. */
export async function writeAgencyFile(path: string, bets: readonly WireBet[], lineEnding: '\n' | '\r\n' = '\r\n'): Promise<void> {
  const out = createWriteStream(path);
  for (const [first, last, document, birthdate, number] of bets) {
    const line = `${csvField(first)},${csvField(last)},${document},${birthdate},${number}${lineEnding}`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}
