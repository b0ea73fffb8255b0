// File helpers for the data dir: writes at an explicit position that go on
// until every byte is written, and the syncs that make a new file's name
// durable. Runs on the store worker.
import { stat, open, type FileHandle } from 'node:fs/promises';

/** Writes all of `chunks` at `position`, however many calls it takes. */
export async function writeFully(handle: FileHandle, chunks: Uint8Array[], position: number): Promise<void> {
  let buffers = chunks;
  while (buffers.length > 0) {
    const { bytesWritten } = await handle.writev(buffers, position);
    position += bytesWritten;
    let left = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const buffer of buffers) {
      if (left >= buffer.length) left -= buffer.length;
      else {
        rest.push(buffer.subarray(left));
        left = 0;
      }
    }
    buffers = rest;
  }
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Syncs a directory, so that the files just created in it survive a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
