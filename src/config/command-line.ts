import { parseArgs } from 'node:util';
import { CommandLineError } from '../errors.ts';

// The command line's flags, read strictly. Every flag takes a value, given as
// "--name value" or "--name=value"; a switch (e.g. --force) may also stand
// alone, meaning on, and takes a value only written inline (--force=off).

/** The flags a program knows, by name (without the dashes): whether each is a switch. */
export type KnownFlags = ReadonlyMap<string, { isSwitch: boolean }>;

/** What a switch given alone stands for. */
export const SWITCH_ON = 'on';

/**
 * The flags given, by name, each with its text. Unknown flags, stray
 * arguments, a flag without its value and a flag given twice are mistakes
 * worth stopping for: the first one found is thrown as a CommandLineError.
 */
export function readFlags(known: KnownFlags, argv: string[]): Map<string, string> {
  const options = Object.fromEntries(
    [...known].map(([name, { isSwitch }]) => [name, { type: isSwitch ? ('boolean' as const) : ('string' as const) }]),
  );
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  // parseArgs would take a following flag as the value ("--data-dir --fsync");
  // a value that looks like a flag is only taken written inline
  // (--data-dir=-odd). Checked in order, so "--host --port 80" is told about
  // --host, not about "80". A flag given twice is refused, whichever flag it
  // is: which of the two was meant is not for the program to guess.
  const values = new Map<string, string>();
  for (const token of tokens) {
    if (token.kind === 'positional') throw new CommandLineError(`unexpected argument '${token.value}'`);
    if (token.kind !== 'option') continue;
    const flag = known.get(token.name);
    if (flag === undefined) throw new CommandLineError(`unknown option '${token.rawName}'${suggestion(known, token.name)}`);
    const value = flag.isSwitch && token.value === undefined ? SWITCH_ON : token.value;
    if (value === undefined || (!token.inlineValue && !flag.isSwitch && LOOKS_LIKE_A_FLAG.test(value))) {
      throw new CommandLineError(`option '${token.rawName}' needs a value`);
    }
    if (values.has(token.name)) throw new CommandLineError(`option '--${token.name}' is given more than once`);
    values.set(token.name, value);
  }
  return values;
}

const LOOKS_LIKE_A_FLAG = /^--?[A-Za-z]/;

/** " (did you mean --port?)" for a slip of a letter or two, else nothing. */
function suggestion(known: KnownFlags, name: string): string {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known.keys()) {
    const distance = editDistance(name, candidate);
    if (distance <= MAX_SLIP && distance < name.length && (best === undefined || distance < best.distance))
      best = { name: candidate, distance };
  }
  return best === undefined ? '' : ` (did you mean --${best.name}?)`;
}

/** Letters added, dropped, changed or swapped that a flag may be off by and still be suggested. */
const MAX_SLIP = 2;

/** Edits (insert, delete, change, swap of neighbours) from `a` to `b`. */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const change = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + change);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
    }
  }
  return rows[a.length][b.length];
}
