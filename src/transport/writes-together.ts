// Writes made until the current tick ends leave in one write: one system
// call, and over TLS one record, for a burst of small frames. Any real wait
// (for I/O, a timer, another thread) ends the tick and sends them, so
// nothing is held back while the program waits.

/** What can be corked: a net.Socket, a TLS socket, a session's transport. */
export type Corkable = { cork(): void; uncork(): void };

/** A function to call before each write to `stream`; the writes of one tick then leave together. */
export function writesTogether(stream: Corkable): () => void {
  let corked = false;
  const uncork = () => {
    corked = false;
    stream.uncork();
  };
  return () => {
    if (corked) return;
    corked = true;
    stream.cork();
    process.nextTick(uncork);
  };
}
