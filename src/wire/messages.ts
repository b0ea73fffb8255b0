// The message catalogue: every message that crosses the wire, as plain types.
// This module is types only; everything that speaks the protocol imports its
// shapes from here. The numeric codes live in message-type.ts.

/** One bet as it travels: [first_name, last_name, document, birthdate, number]. */
export type WireBet = [firstName: string, lastName: string, document: string, birthdate: string, number: number];

export type Hello = { type: 'HELLO'; agency: number };
export type Welcome = { type: 'WELCOME'; offset: number; finished: boolean; drawn: boolean };
export type Bets = { type: 'BETS'; offset: number; bets: WireBet[] };
export type Ack = { type: 'ACK'; offset: number };
export type Finish = { type: 'FINISH'; total: number };
export type Winners = { type: 'WINNERS' };
export type Result = { type: 'RESULT'; documents: string[]; last: boolean };
export type Ping = { type: 'PING' };
export type Pong = { type: 'PONG' };
/**
 * A refusal. `offset` and `next` are set when the refusal is about a batch:
 * the batch that started at `offset` was refused as a whole and the server now
 * expects `next`. Such an error does not close the connection.
 */
export type ErrorMessage = { type: 'ERROR'; code: string; message: string; offset?: number; next?: number };

export type Message = Hello | Welcome | Bets | Ack | Finish | Winners | Result | Ping | Pong | ErrorMessage;
export type MessageName = Message['type'];
export type MessageOf<N extends MessageName> = Extract<Message, { type: N }>;
