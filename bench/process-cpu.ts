// CPU time a process has used so far, all its threads, read from /proc.
import { readdir, readFile } from 'node:fs/promises';

/** CPU time of every live thread of process `pid`, in nanoseconds (schedstat's first field). */
export async function processCpuNs(pid: number): Promise<number> {
  let total = 0;
  for (const task of await readdir(`/proc/${pid}/task`)) {
    const text = await readFile(`/proc/${pid}/task/${task}/schedstat`, 'utf8').catch(() => '0');
    total += Number(text.split(' ')[0]);
  }
  return total;
}
