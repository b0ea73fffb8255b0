// The raw sink's process: a TCP server that does the least a server can and
// still keep the agencies' windows moving. It reads frame headers only; the
// one payload it decodes is HELLO's, once per connection, to know which
// ACKs to answer with. Each BETS frame gets the next ACK of that agency,
// FINISH gets its final ACK. The ACKs are encoded before it listens.
// Given the server's TLS files, it speaks mutual TLS 1.3 as the server does
// (the same options, the client certificate verified in the handshake), so
// that what TLS alone costs can be told from what the server does.
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { serverTlsOptions, type ServerTlsFiles } from '../src/transport/server-transport.ts';
import { decodeAs, encodeMessage } from '../src/wire/codec.ts';
import { FrameDecoder } from '../src/wire/frame-decoder.ts';
import { MessageType } from '../src/wire/message-type.ts';

export type RawSinkData = {
  /** Per agency (index agency - 1): the ACK offsets of its BETS frames in order, and its total for FINISH. */
  agencies: { ends: number[]; total: number }[];
  /** Mutual TLS with these files; plaintext without. */
  tls?: ServerTlsFiles;
};

const data = await new Promise<RawSinkData>((resolve) => process.once('message', (message) => resolve(message as RawSinkData)));
const acks = data.agencies.map(({ ends, total }) => [...ends, total].map((offset) => encodeMessage({ type: 'ACK', offset })));
const welcome = encodeMessage({ type: 'WELCOME', offset: 0, finished: false, drawn: false });

const serve = (socket: Socket) => {
  const decoder = new FrameDecoder();
  let answers: Uint8Array[] = [];
  let next = 0;
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) {
      switch (frame.type) {
        case MessageType.HELLO:
          answers = acks[decodeAs(frame, 'HELLO').agency - 1];
          socket.write(welcome);
          break;
        case MessageType.BETS:
        case MessageType.FINISH:
          socket.write(answers[next++]);
          break;
      }
    }
  });
};
// A handshake that fails (none should) closes its socket; the agency then says why.
const server =
  data.tls === undefined
    ? net.createServer({ noDelay: true }, serve)
    : tls
        .createServer({ ...serverTlsOptions(data.tls), rejectUnauthorized: true, noDelay: true }, serve)
        .on('tlsClientError', () => undefined);
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  process.send!({ port: (server.address() as net.AddressInfo).port });
});
process.on('message', () => {
  server.close(() => process.exit(0));
  // Connections still open (an agency that never ended) do not hold the exit up.
  setTimeout(() => process.exit(0), 1000).unref();
});
// The bench that forked it is gone (it gave up, or was killed): nothing is left to measure.
process.on('disconnect', () => process.exit(0));
