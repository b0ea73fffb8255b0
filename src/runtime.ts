// The programs need Node >= 26.6: since then an accepted socket can be moved
// to a worker thread, which the server's design depends on. This module must
// stay free of newer syntax so that an older Node can load it and say why.

export const MINIMUM_NODE = [26, 6] as const;

export function runtimeIsSupported(version: string = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > MINIMUM_NODE[0] || (major === MINIMUM_NODE[0] && minor >= MINIMUM_NODE[1]);
}

export function requireRuntime(program: string): void {
  if (!runtimeIsSupported()) {
    process.stderr.write(
      `${program}: needs Node.js >= ${MINIMUM_NODE.join('.')} (found ${process.versions.node}): it moves accepted sockets to worker threads; run it through npx or npm so the project's Node is used\n`,
    );
    process.exit(1);
  }
}

/**
 * Node strips TypeScript types each time it loads a file, and every thread
 * starts its stripper anew: tens of milliseconds per thread. Node's compile
 * cache keeps the result on disk; the variable makes worker threads (and
 * child processes) use it from their first file on. NODE_DISABLE_COMPILE_CACHE
 * turns it off, as for Node itself.
 */
export async function enableCompileCache(): Promise<void> {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return;
  const { enableCompileCache: enable } = await import('node:module');
  const { directory } = enable();
  if (directory !== undefined) process.env.NODE_COMPILE_CACHE ??= directory;
}
