// CPU time a process has used so far, all its threads, read from /proc.
import { readdir, readFile } from 'node:fs/promises';

/** The kernel counts user and system time in clock ticks of 10 ms. */
const CLOCK_TICK_MS = 10;

/** CPU time of every live thread of process `pid`, in nanoseconds (schedstat's first field). */
export async function processCpuNs(pid: number): Promise<number> {
  let total = 0;
  for (const ns of (await threadsCpuNs(pid)).values()) total += ns;
  return total;
}

/**
 * CPU time of the live threads of process `pid` by thread name, in
 * nanoseconds. Node names its threads: node-MainThread, WorkerThread (each
 * worker_threads worker), node-V8Worker (V8's garbage collector and compiler
 * helpers), libuv-worker (the pool that runs file system calls).
 */
export async function threadsCpuNs(pid: number): Promise<Map<string, number>> {
  const byName = new Map<string, number>();
  for (const task of await readdir(`/proc/${pid}/task`)) {
    const [schedstat, comm] = await Promise.all([
      readFile(`/proc/${pid}/task/${task}/schedstat`, 'utf8').catch(() => '0'),
      readFile(`/proc/${pid}/task/${task}/comm`, 'utf8').catch(() => 'gone'),
    ]);
    const name = comm.trim();
    byName.set(name, (byName.get(name) ?? 0) + Number(schedstat.split(' ')[0]));
  }
  return byName;
}

/** User + system CPU of live process `pid` (all its threads), in ms. */
export async function processCpuMs(pid: number): Promise<number> {
  return statCpuMs(await readFile(`/proc/${pid}/stat`, 'utf8'), 11);
}

/**
 * User + system CPU of every child of this process that has exited and been
 * reaped so far (and of their reaped children), in ms: the kernel keeps the
 * count, so a child's CPU is known exactly without watching it run.
 */
export async function reapedChildrenCpuMs(): Promise<number> {
  return statCpuMs(await readFile('/proc/self/stat', 'utf8'), 13);
}

/** Fields `first` and `first + 1` of a /proc stat line (counted after the command's closing parenthesis), in ms. */
function statCpuMs(stat: string, first: number): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[first]) + Number(fields[first + 1])) * CLOCK_TICK_MS;
}
