// What a Session needs of its connection, and nothing more: bytes in, bytes
// out, flow control both ways, and closing. The Session speaks the protocol
// over this interface, never over a socket, so its protocol logic can be
// driven in memory by a test (test/helpers/memory-transport.ts). On a
// session worker the transport is a socket-transport.ts over the accepted
// TCP socket or the TLS stream on it (see server-transport.ts).

/** What the transport tells the Session as it happens. */
export type TransportReceiver = {
  /** Bytes from the peer, in order; never called while paused. */
  data(chunk: Buffer): void;
  /** The peer has ended its side: nothing more will come. */
  end(): void;
  /** The connection is closed, whichever end closed it; called once. */
  close(): void;
  /** The connection failed (a reset, say); close() follows. */
  error(error: Error): void;
};

export interface Transport {
  /** Who is at the other end, for the log: "address:port". */
  readonly peer: string;
  /** Starts telling `receiver` what happens; the transport stays paused until resume(). */
  start(receiver: TransportReceiver): void;
  /** No data() until resume(): what the peer sends waits (in the kernel, for a socket). */
  pause(): void;
  resume(): void;
  /** Queues bytes for the peer. */
  send(bytes: Uint8Array): void;
  /** Sends until uncork() leave together, in one write. */
  cork(): void;
  uncork(): void;
  /** Bytes queued that the peer has not taken yet. */
  readonly unsentBytes: number;
  /** The queue has reached its cap: drained() says when the peer has taken it. */
  readonly full: boolean;
  /** Resolves once a full queue has emptied; rejects if `signal` aborts first. */
  drained(signal: AbortSignal): Promise<void>;
  /** Closes once what is queued has left. */
  end(): void;
  /** Closes now, dropping what is queued. */
  destroy(): void;
  readonly destroyed: boolean;
}
