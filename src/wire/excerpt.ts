// How a value a peer sent is shown in an error message or a log line: never
// more than a few dozen characters whatever the value's size or shape, and
// escaped, so that a control character, a bidi override or a line separator
// in it cannot break a log line or disguise what it says.

/** Characters of a string shown, escapes included, before it is cut. */
export const EXCERPT_CHARACTERS = 48;

// Controls, format characters (bidi controls, zero-width characters),
// surrogates, unassigned and private-use code points, line and paragraph
// separators, U+FFFD (what bytes that were not UTF-8 decode to), and the
// escapes' own backslash and quote.
const UNSAFE = /[\p{C}\p{Zl}\p{Zp}\ufffd\\"]/gu;
const UNSAFE_ONE = /^[\p{C}\p{Zl}\p{Zp}\ufffd\\"]$/u;

/** A bounded, escaped rendering of `value`: a quoted excerpt of a string, or what kind of value it is. */
export function excerpt(value: unknown): string {
  switch (typeof value) {
    case 'string': {
      let shown = '';
      let taken = 0;
      for (const character of value) {
        const piece = UNSAFE_ONE.test(character) ? escapeText(character) : character;
        if (shown.length + piece.length > EXCERPT_CHARACTERS) break;
        shown += piece;
        taken += character.length;
      }
      return `"${shown}"${taken < value.length ? '…' : ''}`;
    }
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'undefined':
      return 'nothing';
    default:
      if (value === null) return 'nil';
      if (Array.isArray(value)) return `an array of ${value.length}`;
      if (value instanceof Uint8Array) return `${value.length} bytes of binary`;
      return 'a map';
  }
}

/** `text` with every unsafe character written as \u{…}. */
export function escapeText(text: string): string {
  return text.replace(UNSAFE, (character) =>
    character === '\\' || character === '"' ? `\\${character}` : `\\u{${character.codePointAt(0)!.toString(16).toUpperCase()}}`,
  );
}
