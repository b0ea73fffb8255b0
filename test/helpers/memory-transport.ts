// A Transport (src/transport/transport.ts) with no socket under it: the test
// is the peer. It writes bytes in (deliver), reads the Session's messages
// out (receive), and can stop reading to fill the Session's write queue.
// Chunks are delivered a tick later, as a socket would, and held while the
// Session has paused the transport.
import type { Transport, TransportReceiver } from '../../src/transport/transport.ts';
import { decodeMessage } from '../../src/wire/codec.ts';
import { FrameDecoder } from '../../src/wire/frame-decoder.ts';
import type { Message } from '../../src/wire/messages.ts';

export class MemoryTransport implements Transport {
  readonly peer = 'memory:1';
  /** The most the queue to the peer holds before it is full, as a socket's high-water mark. */
  readonly capBytes: number;
  #receiver: TransportReceiver | undefined;
  #paused = true;
  #inbound: Buffer[] = [];
  #delivering = false;
  #corked = 0;
  #corkedSends: Uint8Array[] = [];
  /** Sent by the Session and not yet taken by the peer. */
  #unsent: Uint8Array[] = [];
  #unsentBytes = 0;
  #full = false;
  #peerReads = true;
  #drainWaiters: Array<() => void> = [];
  readonly #decoder = new FrameDecoder();
  readonly #messages: Message[] = [];
  #messageWaiter: (() => void) | undefined;
  #ended = false;
  #destroyed = false;
  #closedByPeer = false;
  /** Writes the Session made, each as one array of bytes (a corked burst is one write). */
  readonly writes: Uint8Array[] = [];
  readonly closed: Promise<void>;
  readonly #closed = Promise.withResolvers<void>();

  constructor(options: { capBytes?: number } = {}) {
    this.capBytes = options.capBytes ?? 64 * 1024;
    this.closed = this.#closed.promise;
  }

  // The Session's side.

  start(receiver: TransportReceiver): void {
    this.#receiver = receiver;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#scheduleDelivery();
  }

  send(bytes: Uint8Array): void {
    if (this.#destroyed) return;
    // Corked bytes count as queued at once, as a socket's writableLength does.
    this.#queued(bytes.length);
    if (this.#corked > 0) this.#corkedSends.push(bytes);
    else this.#write(Buffer.from(bytes));
  }

  cork(): void {
    this.#corked++;
  }

  uncork(): void {
    if (this.#corked === 0 || --this.#corked > 0 || this.#corkedSends.length === 0) return;
    const burst = Buffer.concat(this.#corkedSends);
    this.#corkedSends = [];
    this.#write(burst);
  }

  get unsentBytes(): number {
    return this.#unsentBytes;
  }

  get full(): boolean {
    return this.#full;
  }

  drained(signal: AbortSignal): Promise<void> {
    if (!this.#full) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => resolve();
      this.#drainWaiters.push(done);
      signal.addEventListener(
        'abort',
        () => {
          this.#drainWaiters = this.#drainWaiters.filter((waiter) => waiter !== done);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  end(): void {
    if (this.#ended || this.#destroyed) return;
    this.#ended = true;
    // What is queued still reaches a peer that reads; then the connection is gone.
    if (this.#peerReads) this.#finishClose();
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#unsent = [];
    this.#unsentBytes = 0;
    this.#finishClose();
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  // The peer's side, for the test.

  /** The peer sends `bytes`; they reach the Session a tick later, and only while it reads. */
  deliver(bytes: Uint8Array): void {
    if (this.#closedByPeer || this.#destroyed) throw new Error('the connection is closed');
    this.#inbound.push(Buffer.from(bytes));
    this.#scheduleDelivery();
  }

  /** The peer ends its side. */
  endFromPeer(): void {
    this.#closedByPeer = true;
    setImmediate(() => this.#receiver?.end());
  }

  /** The peer stops taking what the Session sends (its queue then fills), or takes it again. */
  set peerReads(reads: boolean) {
    this.#peerReads = reads;
    if (reads) this.#take();
  }

  /** The next message the Session sent; waits for it, at most `timeoutMs`. */
  async receive(timeoutMs = 10_000): Promise<Message> {
    const timeout = AbortSignal.timeout(timeoutMs);
    while (this.#messages.length === 0) {
      if (this.#destroyed) throw new Error('the connection closed with no more messages');
      if (timeout.aborted) throw new Error(`no message within ${timeoutMs} ms`);
      const arrived = Promise.withResolvers<void>();
      const wake = () => arrived.resolve();
      this.#messageWaiter = wake;
      timeout.addEventListener('abort', wake, { once: true });
      await Promise.race([arrived.promise, this.closed]);
      timeout.removeEventListener('abort', wake);
    }
    return this.#messages.shift()!;
  }

  #queued(length: number): void {
    this.#unsentBytes += length;
    if (this.#unsentBytes >= this.capBytes) this.#full = true;
  }

  #write(bytes: Buffer): void {
    this.writes.push(bytes);
    this.#unsent.push(bytes);
    if (this.#peerReads) this.#take();
  }

  /** The peer takes everything queued. */
  #take(): void {
    for (const bytes of this.#unsent.splice(0)) {
      for (const frame of this.#decoder.push(bytes)) this.#messages.push(decodeMessage(frame));
      this.#unsentBytes -= bytes.length;
    }
    this.#messageWaiter?.();
    if (this.#full) {
      this.#full = false;
      for (const waiter of this.#drainWaiters.splice(0)) waiter();
    }
    if (this.#ended && !this.#destroyed) this.#finishClose();
  }

  #scheduleDelivery(): void {
    if (this.#delivering) return;
    this.#delivering = true;
    setImmediate(() => {
      this.#delivering = false;
      while (!this.#paused && this.#inbound.length > 0 && !this.#destroyed) this.#receiver?.data(this.#inbound.shift()!);
    });
  }

  #finishClose(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    setImmediate(() => {
      this.#receiver?.close();
      this.#closed.resolve();
      this.#messageWaiter?.();
    });
  }
}
