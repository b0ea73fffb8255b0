import type { MessageName } from './messages.ts';

/** The byte at offset 3 of every frame header, one per message in the catalogue. */
export const MessageType = {
  HELLO: 0x01,
  WELCOME: 0x02,
  BETS: 0x03,
  ACK: 0x04,
  FINISH: 0x05,
  WINNERS: 0x06,
  RESULT: 0x07,
  PING: 0x08,
  PONG: 0x09,
  WAITING: 0x0b,
  STATUS: 0x0c,
  STATUS_REPORT: 0x0d,
  CLOSE: 0x10,
  CLOSED: 0x11,
  ERROR: 0x0f,
} as const satisfies Record<MessageName, number>;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const namesByCode = new Map<number, MessageName>(Object.entries(MessageType).map(([name, code]) => [code, name as MessageName]));

export function messageNameOf(code: number): MessageName | undefined {
  return namesByCode.get(code);
}
