import { ErrorCode, ProtocolError } from '../errors.ts';

// The protocol speaks plain msgpack: maps with string keys, arrays, strings,
// numbers, booleans, nil (and bin, which no message uses but any library may
// write). msgpackr also decodes its own extensions (records, structured-clone
// references, bundled strings, timestamps…), and a record definition even
// changes how later payloads decode; a few hundred bytes of references can
// expand into gigabytes. So every payload is walked here first, byte by byte,
// and anything else is refused before msgpackr or anything else looks inside
// it. The walk is linear in the payload's bytes and allocates nothing per
// value, and it bounds the shape: no message nests deeper than three levels
// or has a map of more than four entries.

/** Levels of nesting a payload may have: a BETS payload uses three. */
export const MAX_DEPTH = 8;
/** Entries a map may have: the largest message, ERROR, has four. */
export const MAX_MAP_ENTRIES = 16;

/** What the payload's outermost value is. */
export type TopLevel = 'map' | 'other';

/**
 * Checks that `bytes` hold exactly one plain msgpack value within the bounds
 * above; throws ProtocolError BAD_MESSAGE saying what and where otherwise.
 * `name` is the message's name, for the error.
 */
export function checkPlainMsgpack(bytes: Uint8Array, name: string): TopLevel {
  const end = bytes.length;
  // Per open level: values still to read, and whether it is a map (then an
  // even count left means a key comes next). Fixed-size: MAX_DEPTH bounds them.
  const left = new Array<number>(MAX_DEPTH + 1);
  const inMap = new Array<boolean>(MAX_DEPTH + 1);
  let depth = 0;
  left[0] = 1;
  inMap[0] = false;
  let at = 0;
  /** Where the value being read starts: errors point at it. */
  let valueAt = 0;
  const refuse = (what: string): never => {
    throw new ProtocolError(ErrorCode.BAD_MESSAGE, `${name} payload: ${what} at byte ${valueAt}`);
  };
  const open = (count: number, map: boolean, minBytes: number) => {
    if (count === 0) return;
    if (depth === MAX_DEPTH) refuse(`nesting deeper than ${MAX_DEPTH} levels`);
    // Every value takes at least a byte: a count the bytes cannot hold is refused now.
    if (count * minBytes > end - at) refuse('a length past the end of the payload');
    depth++;
    left[depth] = map ? count * 2 : count;
    inMap[depth] = map;
  };
  const skip = (length: number) => {
    if (length > end - at) refuse('a length past the end of the payload');
    at += length;
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = (size: 1 | 2 | 4): number => {
    if (at + 1 + size > end) refuse('a length past the end of the payload');
    const value = size === 1 ? bytes[at + 1] : size === 2 ? view.getUint16(at + 1) : view.getUint32(at + 1);
    at += 1 + size;
    return value;
  };
  let top: TopLevel | undefined;

  while (depth >= 0) {
    if (left[depth] === 0) {
      depth--;
      continue;
    }
    valueAt = at;
    if (at >= end) refuse('the payload ends inside a value');
    const key = inMap[depth] && left[depth] % 2 === 0;
    left[depth]--;
    const head = bytes[at];
    top ??= (head >= 0x80 && head <= 0x8f) || head === 0xde || head === 0xdf ? 'map' : 'other';
    const isString = (head >= 0xa0 && head <= 0xbf) || head === 0xd9 || head === 0xda || head === 0xdb;
    if (key && !isString) refuse('a map key that is not a string');
    if (head <= 0x7f || head >= 0xe0 || head === 0xc0 || head === 0xc2 || head === 0xc3) {
      at += 1;
    } else if (head <= 0x8f) {
      at += 1;
      mapOf(head & 0x0f);
    } else if (head <= 0x9f) {
      at += 1;
      open(head & 0x0f, false, 1);
    } else if (head <= 0xbf) {
      at += 1;
      skip(head & 0x1f);
    } else {
      switch (head) {
        case 0xc4:
        case 0xd9:
          skip(length(1));
          break;
        case 0xc5:
        case 0xda:
          skip(length(2));
          break;
        case 0xc6:
        case 0xdb:
          skip(length(4));
          break;
        case 0xcc:
        case 0xd0:
          skip(2);
          break;
        case 0xcd:
        case 0xd1:
          skip(3);
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          skip(5);
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip(9);
          break;
        case 0xdc:
          open(length(2), false, 1);
          break;
        case 0xdd:
          open(length(4), false, 1);
          break;
        case 0xde:
          mapOf(length(2));
          break;
        case 0xdf:
          mapOf(length(4));
          break;
        case 0xc1:
          refuse('the never-used byte 0xc1');
        // 0xc7-0xc9 and 0xd4-0xd8: ext 8/16/32 and fixext 1..16.
        default:
          refuse(`a msgpack extension (0x${head.toString(16)})`);
      }
    }
  }
  valueAt = at;
  if (at !== end) refuse('bytes after the value');
  return top!;

  function mapOf(entries: number): void {
    if (entries > MAX_MAP_ENTRIES) refuse(`a map of ${entries} entries (at most ${MAX_MAP_ENTRIES})`);
    // A key is a string of at least one byte, and so is its value.
    open(entries, true, 2);
  }
}
