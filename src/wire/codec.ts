// The portable build (the subpaths): Node's default entry also loads
// msgpackr's streams and looks for its optional native string extractor,
// which costs every program's start and would put native code between the
// network's bytes and the checks.
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import { HEADER_SIZE, MAX_PAYLOAD_SIZE, writeHeader, type Frame } from './frame.ts';
import { MessageType, messageNameOf } from './message-type.ts';
import type { Message, MessageName, MessageOf, WireBet } from './messages.ts';
import { checkPlainMsgpack } from './plain-msgpack.ts';
import { ErrorCode, ProtocolError } from '../errors.ts';

// Plain msgpack: no records extension, minimal map headers, so that an agency
// written in any language with any msgpack library can speak the protocol.
// What is decoded has been checked to be plain first (plain-msgpack.ts).
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, structuredClone: false });

/** Messages whose payload carries nothing: checked to be a plain map, never decoded. */
const EMPTY_PAYLOAD: ReadonlySet<MessageName> = new Set(['WINNERS', 'PING', 'PONG', 'STATUS', 'CLOSE']);

/** STATUS_REPORT lists at most this many ids not finished, so that it fits one frame. */
export const STATUS_WAITING_LIMIT = 1000;
/** And at most this many agency states. */
const STATUS_STATES_LIMIT = 16;

/** The msgpack encoding of one value, as the protocol writes it. */
export function packValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Encodes one message as a whole frame (header and payload). */
export function encodeMessage(message: Message): Uint8Array {
  const { type, ...payload } = message;
  const body = packr.pack(payload);
  const frame = new Uint8Array(HEADER_SIZE + body.length);
  writeHeader(frame, 0, MessageType[type], body.length);
  frame.set(body, HEADER_SIZE);
  return frame;
}

/**
 * Decodes a frame's payload and checks it has the shape its type requires.
 * Anything else is a ProtocolError with code BAD_MESSAGE: a peer cannot make
 * the server act on a value of the wrong type. The bytes are checked to be
 * plain msgpack before they are decoded, and the payloads of PING, PONG and
 * WINNERS, which carry nothing, are not decoded at all.
 */
export function decodeMessage(frame: Frame): Message {
  const name = messageNameOf(frame.type);
  if (name === undefined) throw new ProtocolError(ErrorCode.BAD_FRAME, `unknown message type 0x${frame.type.toString(16)}`);
  if (checkPlainMsgpack(frame.payload, name) !== 'map') throw new ProtocolError(ErrorCode.BAD_MESSAGE, `${name} payload must be a map`);
  if (EMPTY_PAYLOAD.has(name)) return { type: name } as Message;
  let payload: unknown;
  try {
    payload = unpackr.unpack(frame.payload);
  } catch (cause) {
    throw new ProtocolError(ErrorCode.BAD_MESSAGE, `${name} payload is not one msgpack value`, { cause });
  }
  if (!isPlainObject(payload)) throw new ProtocolError(ErrorCode.BAD_MESSAGE, `${name} payload must be a map`);
  return shapes[name](payload);
}

/** Decodes and insists on one message type. */
export function decodeAs<N extends MessageName>(frame: Frame, name: N): MessageOf<N> {
  const message = decodeMessage(frame);
  if (message.type !== name) {
    throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `expected ${name}, got ${message.type}`);
  }
  return message as MessageOf<N>;
}

type Payload = Record<string, unknown>;

const shapes: { [N in MessageName]: (p: Payload) => MessageOf<N> } = {
  HELLO: (p) => {
    const message: MessageOf<'HELLO'> = { type: 'HELLO', agency: count(p, 'HELLO', 'agency') };
    if (p.progress !== undefined) message.progress = flag(p, 'HELLO', 'progress');
    return message;
  },
  WELCOME: (p) => {
    const message: MessageOf<'WELCOME'> = {
      type: 'WELCOME',
      offset: count(p, 'WELCOME', 'offset'),
      finished: flag(p, 'WELCOME', 'finished'),
      drawn: flag(p, 'WELCOME', 'drawn'),
    };
    if (p.total !== undefined) message.total = count(p, 'WELCOME', 'total');
    if (p.digest !== undefined) message.digest = digest(p, 'WELCOME', 'digest');
    if (p.closedAt !== undefined) message.closedAt = instant(p, 'WELCOME', 'closedAt');
    if (p.stored !== undefined) message.stored = count(p, 'WELCOME', 'stored');
    return message;
  },
  BETS: (p) => ({ type: 'BETS', offset: count(p, 'BETS', 'offset'), bets: betList(p) }),
  ACK: (p) => ({ type: 'ACK', offset: count(p, 'ACK', 'offset') }),
  FINISH: (p) => ({ type: 'FINISH', total: count(p, 'FINISH', 'total'), digest: digest(p, 'FINISH', 'digest') }),
  WINNERS: () => ({ type: 'WINNERS' }),
  RESULT: (p) => ({ type: 'RESULT', documents: stringList(p, 'RESULT', 'documents'), last: flag(p, 'RESULT', 'last') }),
  WAITING: (p) => ({ type: 'WAITING', finished: count(p, 'WAITING', 'finished'), agencies: count(p, 'WAITING', 'agencies') }),
  STATUS: () => ({ type: 'STATUS' }),
  STATUS_REPORT: (p) => {
    const message: MessageOf<'STATUS_REPORT'> = {
      type: 'STATUS_REPORT',
      agencies: count(p, 'STATUS_REPORT', 'agencies'),
      counts: countMap(p, 'STATUS_REPORT', 'counts'),
      waiting: countList(p, 'STATUS_REPORT', 'waiting', STATUS_WAITING_LIMIT),
      waitingMore: count(p, 'STATUS_REPORT', 'waitingMore'),
      bets: count(p, 'STATUS_REPORT', 'bets'),
      betsPerSecond: count(p, 'STATUS_REPORT', 'betsPerSecond'),
      drawn: flag(p, 'STATUS_REPORT', 'drawn'),
    };
    if (p.digest !== undefined) message.digest = digest(p, 'STATUS_REPORT', 'digest');
    if (p.winners !== undefined) message.winners = count(p, 'STATUS_REPORT', 'winners');
    return message;
  },
  CLOSE: () => ({ type: 'CLOSE' }),
  CLOSED: (p) => ({ type: 'CLOSED', at: instant(p, 'CLOSED', 'at'), unfinished: agencyList(p, 'CLOSED', 'unfinished') }),
  PING: () => ({ type: 'PING' }),
  PONG: () => ({ type: 'PONG' }),
  ERROR: (p) => {
    const message: MessageOf<'ERROR'> = { type: 'ERROR', code: text(p, 'ERROR', 'code'), message: text(p, 'ERROR', 'message') };
    if (p.offset !== undefined) message.offset = count(p, 'ERROR', 'offset');
    if (p.next !== undefined) message.next = count(p, 'ERROR', 'next');
    return message;
  },
};

/**
 * A msgpack map, as msgpackr decodes it: a plain object. Its extension values
 * (a timestamp's Date, the C1Type it returns for the never-used byte 0xc1)
 * are objects too, but not maps.
 */
function isPlainObject(value: unknown): value is Payload {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function bad(name: string, field: string, what: string): never {
  throw new ProtocolError(ErrorCode.BAD_MESSAGE, `${name}.${field} must be ${what}`);
}

function count(p: Payload, name: string, field: string): number {
  const value = p[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) bad(name, field, 'a non-negative integer');
  return value;
}

function flag(p: Payload, name: string, field: string): boolean {
  const value = p[field];
  if (typeof value !== 'boolean') bad(name, field, 'a boolean');
  return value;
}

function text(p: Payload, name: string, field: string): string {
  const value = p[field];
  if (typeof value !== 'string') bad(name, field, 'a string');
  return value;
}

/** A time as the server's records write it (Date#toISOString). */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function instant(p: Payload, name: string, field: string): string {
  const value = p[field];
  if (typeof value !== 'string' || !INSTANT.test(value)) bad(name, field, 'a time as ISO 8601 UTC to the millisecond');
  return value;
}

function agencyList(p: Payload, name: string, field: string): number[] {
  const value = p[field];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'number' && Number.isSafeInteger(item) && item > 0)) {
    bad(name, field, 'an array of agency ids');
  }
  return value as number[];
}

const DIGEST = /^[0-9a-f]{64}$/;

function digest(p: Payload, name: string, field: string): string {
  const value = p[field];
  if (typeof value !== 'string' || !DIGEST.test(value)) bad(name, field, 'a SHA-256 digest in 64 lowercase hex digits');
  return value;
}

function stringList(p: Payload, name: string, field: string): string[] {
  const value = p[field];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) bad(name, field, 'an array of strings');
  return value;
}

function countList(p: Payload, name: string, field: string, limit: number): number[] {
  const value = p[field];
  if (!Array.isArray(value) || value.length > limit || !value.every((item) => Number.isSafeInteger(item) && (item as number) >= 0)) {
    bad(name, field, `an array of at most ${limit} non-negative integers`);
  }
  return value as number[];
}

function countMap(p: Payload, name: string, field: string): Record<string, number> {
  const value = p[field];
  if (!isPlainObject(value)) bad(name, field, 'a map');
  const entries = Object.entries(value);
  if (entries.length > STATUS_STATES_LIMIT || !entries.every(([, n]) => Number.isSafeInteger(n) && (n as number) >= 0)) {
    bad(name, field, `a map of at most ${STATUS_STATES_LIMIT} names to non-negative integers`);
  }
  return Object.fromEntries(entries) as Record<string, number>;
}

/**
 * BETS.bets must be a non-empty array of arrays. The fields of each bet are
 * checked by the bets domain, which names the bet and the field at fault.
 */
function betList(p: Payload): WireBet[] {
  const value = p.bets;
  if (!Array.isArray(value) || value.length === 0 || !value.every(Array.isArray)) {
    bad('BETS', 'bets', 'a non-empty array of bets, each an array');
  }
  return value as WireBet[];
}

/**
 * Splits a list of documents over as many RESULT frames as the frame cap
 * needs; the last one says `last: true`. An empty list is one empty frame.
 */
export function encodeResult(documents: readonly string[]): Uint8Array[] {
  const frames: Uint8Array[] = [];
  // Room for the map around the array, its largest header and `last`.
  const envelope = packr.pack({ documents: [], last: false }).length + 4;
  let start = 0;
  while (true) {
    let size = envelope;
    let end = start;
    while (end < documents.length) {
      const next = packr.pack(documents[end]).length;
      if (size + next > MAX_PAYLOAD_SIZE) break;
      size += next;
      end++;
    }
    if (end === start && end < documents.length) throw new RangeError(`document ${documents[end]} cannot fit a frame`);
    const last = end >= documents.length;
    frames.push(encodeMessage({ type: 'RESULT', documents: documents.slice(start, end), last }));
    if (last) return frames;
    start = end;
  }
}
