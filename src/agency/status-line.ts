// The agency's progress for a person at a terminal: one line at the bottom,
// redrawn in place, that log lines never break. The logger clears it before
// each log line and draws it again after (see createLogger's `around`), so
// the terminal shows whole log lines with the status line under them.
//
//   agency 1 [##########..........] 34% 9,120 of 26,936 rows acknowledged
//   agency 1: 26,936 rows acknowledged; waiting for the draw (3 of 5 agencies finished)
//
// Only drawn on a terminal: the agency makes one only when stderr is a TTY.

import { open } from 'node:fs/promises';
import type { AgencyStatus } from './agency.ts';

const WIDTH = 20;
const EVERY_MS = 100;
const CLEAR = '\r\x1b[2K';

export type StatusStream = { write(text: string): unknown; columns?: number };

export class StatusLine {
  readonly #stream: StatusStream;
  readonly #label: string;
  #rows: number | undefined;
  #acknowledged = 0;
  #text = '';
  #shownAt = 0;
  #drawn = false;
  #closed = false;

  constructor(stream: StatusStream, label: string) {
    this.#stream = stream;
    this.#label = label;
  }

  /** The number of rows in the file, once known: the bar's 100%. */
  set rows(rows: number) {
    this.#rows = rows;
  }

  update(status: AgencyStatus): void {
    const text = this.#describe(status);
    const now = Date.now();
    // Uploading updates come with every ACK: drawn at most every EVERY_MS.
    if (status.phase === 'uploading' && this.#drawn && now - this.#shownAt < EVERY_MS) {
      this.#text = text;
      return;
    }
    this.#text = text;
    this.#shownAt = now;
    this.redraw();
  }

  /** Before a log line: the status line goes. */
  clear(): void {
    if (!this.#drawn) return;
    this.#stream.write(CLEAR);
    this.#drawn = false;
  }

  /** After a log line: the status line comes back under it. */
  redraw(): void {
    if (this.#closed || this.#text === '') return;
    const columns = this.#stream.columns ?? 80;
    const text = this.#text.length >= columns ? `${this.#text.slice(0, columns - 2)}…` : this.#text;
    this.#stream.write(`${CLEAR}${text}`);
    this.#drawn = true;
  }

  /** The run is over: the line is cleared for good, leaving only log lines. */
  close(): void {
    this.clear();
    this.#closed = true;
  }

  #describe(status: AgencyStatus): string {
    const bets = (n: number) => n.toLocaleString('en-US');
    switch (status.phase) {
      case 'uploading': {
        this.#acknowledged = status.acknowledged;
        const rows = this.#rows;
        if (rows === undefined || rows === 0) return `${this.#label}: ${bets(status.acknowledged)} rows acknowledged`;
        const fraction = Math.min(1, status.acknowledged / rows);
        const filled = Math.round(fraction * WIDTH);
        return `${this.#label} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${Math.floor(fraction * 100)}% ${bets(status.acknowledged)} of ${bets(rows)} rows acknowledged`;
      }
      case 'finished':
        this.#acknowledged = status.total;
        return `${this.#label}: ${bets(status.total)} rows acknowledged; waiting for the draw`;
      case 'waiting':
        return `${this.#label}: ${bets(this.#acknowledged)} rows acknowledged; waiting for the draw (${status.finished} of ${status.agencies} agencies finished)`;
      case 'retrying':
        return `${this.#label}: ${bets(this.#acknowledged)} rows acknowledged; reconnecting in ${(status.inMs / 1000).toFixed(1)} s`;
    }
  }
}

/** The rows of a bets file (its lines, the last even without a line break), for the bar's 100%. */
export async function countRows(path: string): Promise<number> {
  const file = await open(path);
  try {
    let rows = 0;
    let last = 0x0a;
    for await (const chunk of file.createReadStream() as AsyncIterable<Buffer>) {
      for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) rows++;
      if (chunk.length > 0) last = chunk[chunk.length - 1];
    }
    return last === 0x0a ? rows : rows + 1;
  } finally {
    await file.close();
  }
}
