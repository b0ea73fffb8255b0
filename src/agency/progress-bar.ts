// A one-line progress bar for a person watching a terminal. It writes to
// stderr, and the agency only uses it when stdout is a terminal, so logs
// that are piped or collected never carry it.

const WIDTH = 30;
const EVERY_MS = 100;

export class ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  readonly #label: string;
  #shownAt = 0;

  constructor(stream: NodeJS.WriteStream, label: string) {
    this.#stream = stream;
    this.#label = label;
  }

  update(fraction: number, bets: number): void {
    const now = Date.now();
    if (fraction < 1 && now - this.#shownAt < EVERY_MS) return;
    this.#shownAt = now;
    const clamped = Math.max(0, Math.min(1, fraction));
    const filled = Math.round(clamped * WIDTH);
    this.#stream.write(`\r${this.#label} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${Math.floor(clamped * 100)}% ${bets} bets`);
  }

  done(): void {
    this.#stream.write('\n');
  }
}
