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
