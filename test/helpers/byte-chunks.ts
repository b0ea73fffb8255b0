// Bytes cut into chunks of chosen sizes, as a socket or a file stream may
// deliver them: what a decoder or parser must read the same however cut.

/**
 * `bytes` in consecutive chunks, each as long as `sizes()` says (at least 1
 * byte). Each chunk is a fresh copy, as from a socket: never a view that
 * reaches into its neighbours.
 */
export function* chunksOf(bytes: Uint8Array, sizes: () => number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length;) {
    const size = Math.max(1, sizes());
    yield Uint8Array.from(bytes.subarray(at, at + size));
    at += size;
  }
}

/** The same chunks, one at a time, as a stream hands them to a `for await`. */
export async function* streamOf(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* chunks;
}
