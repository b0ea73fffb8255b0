import { messageNameOf } from './message-type.ts';
import { ErrorCode, ProtocolError } from '../errors.ts';

// Every packet: an 8-byte header, then one msgpack value.
//   0  2  magic "LT"
//   2  1  protocol version
//   3  1  message type
//   4  4  payload length, unsigned big-endian
export const MAGIC = 0x4c54;
export const PROTOCOL_VERSION = 2;
export const HEADER_SIZE = 8;
/** The cap on a whole frame, header included, in both directions. */
export const MAX_FRAME_SIZE = 8192;
export const MAX_PAYLOAD_SIZE = MAX_FRAME_SIZE - HEADER_SIZE;

export type Frame = { type: number; payload: Uint8Array };

/** Writes a frame header for `payloadLength` bytes of `type` into `target` at `at`. */
export function writeHeader(target: Uint8Array, at: number, type: number, payloadLength: number): void {
  if (payloadLength > MAX_PAYLOAD_SIZE) {
    throw new RangeError(`payload of ${payloadLength} bytes does not fit a ${MAX_FRAME_SIZE}-byte frame`);
  }
  const view = new DataView(target.buffer, target.byteOffset + at, HEADER_SIZE);
  view.setUint16(0, MAGIC);
  view.setUint8(2, PROTOCOL_VERSION);
  view.setUint8(3, type);
  view.setUint32(4, payloadLength);
}

/**
 * Reads and checks the header at `at`; returns the payload length.
 * Throws ProtocolError for anything that is not a frame of this protocol, so a
 * caller never allocates for a length it has not checked.
 */
export function readHeader(source: Uint8Array, at: number): { type: number; length: number } {
  const view = new DataView(source.buffer, source.byteOffset + at, HEADER_SIZE);
  const magic = view.getUint16(0);
  if (magic !== MAGIC) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, `bad magic 0x${magic.toString(16).padStart(4, '0')}, expected 0x4c54 ("LT")`);
  }
  const version = view.getUint8(2);
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, `unsupported protocol version ${version}, expected ${PROTOCOL_VERSION}`);
  }
  const type = view.getUint8(3);
  if (messageNameOf(type) === undefined) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, `unknown message type 0x${type.toString(16).padStart(2, '0')}`);
  }
  const length = view.getUint32(4);
  if (length > MAX_PAYLOAD_SIZE) {
    throw new ProtocolError(ErrorCode.BAD_FRAME, `payload length ${length} exceeds the ${MAX_PAYLOAD_SIZE}-byte limit`);
  }
  return { type, length };
}
