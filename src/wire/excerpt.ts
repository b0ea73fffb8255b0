// How a value a peer sent is shown in an error message or a log line: never
// more than a few dozen characters whatever the value's size or shape, and
// escaped, so that a control character, a bidi override or a line separator
// in it cannot break a log line or disguise what it says.

/** Characters of a string shown before it is cut. */
export const EXCERPT_CHARACTERS = 40;

// Controls, format characters (bidi controls, zero-width characters),
// surrogates, unassigned and private-use code points, line and paragraph
// separators, and the escapes' own backslash and quote.
const UNSAFE = /[\p{C}\p{Zl}\p{Zp}\\"]/gu;

/** A bounded, escaped rendering of `value`: a quoted excerpt of a string, or what kind of value it is. */
export function excerpt(value: unknown): string {
  switch (typeof value) {
    case 'string': {
      const cut = [...value.slice(0, EXCERPT_CHARACTERS * 2)].slice(0, EXCERPT_CHARACTERS).join('');
      return `"${escapeText(cut)}"${cut.length < value.length ? '…' : ''}`;
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
