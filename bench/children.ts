// For the bench's timeout: the processes this bench started (its direct
// children, as /proc tells), stopped with SIGTERM by their PIDs. Course mode
// starts them through the harness, which keeps no handle the timeout can reach.
import { readdir, readFile } from 'node:fs/promises';

export async function childPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === process.pid) pids.push(Number(name));
  }
  return pids;
}

/** SIGTERM to each child; resolves once they are gone or `graceMs` has passed. */
export async function stopChildren(graceMs = 8000): Promise<void> {
  const pids = await childPids();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && (await childPids()).length > 0) await new Promise((resolve) => setTimeout(resolve, 100));
}
