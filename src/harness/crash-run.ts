// Kills the server with SIGKILL at chosen moments of a real upload, restarts
// it on the same data dir and port each time, lets the agencies reconnect and
// resume, and reports what ended up stored. Used by the durability test and
// by CI on the course dataset.

import { readStoredRows, startAgency, startServer, type AgencyRun, type RunningServer } from './lottery-processes.ts';

export type CrashPoint = {
  /** Said in reports. */
  name: string;
  /** Kill once the server, since its last start, has printed a line matching this. */
  after: RegExp;
  /** How many such lines to wait for (default 1). */
  count?: number;
};

/**
 * The kills the durability checks make: three during the upload, once the
 * server has stored `early`, `mid` and `late` batches since its last start,
 * and one at the draw, once all `agencies` have finished.
 */
export function uploadAndDrawCrashes(agencies: number, [early, mid, late]: [number, number, number]): CrashPoint[] {
  const received = /action: apuesta_recibida \| result: success/;
  return [
    { name: 'early in the upload', after: received, count: early },
    { name: 'mid-upload', after: received, count: mid },
    { name: 'late in the upload', after: received, count: late },
    { name: 'at the draw', after: new RegExp(`action: agencia_finalizada \\| result: success .*finalizadas: ${agencies}\\b`) },
  ];
}

export type CrashRunOptions = {
  dataDir: string;
  /** The agency files, agency k at index k-1. */
  files: string[];
  crashes: CrashPoint[];
  agencyArgs?: string[];
  serverArgs?: string[];
};

export type CrashRunResult = { runs: AgencyRun[]; storedRows: string[]; kills: string[]; serverCode: number };

export async function crashRun(options: CrashRunOptions): Promise<CrashRunResult> {
  const agencies = options.files.length;
  const serverArgs = ['--data-dir', options.dataDir, '--agencies', String(agencies), ...(options.serverArgs ?? [])];
  // A restart replays the journal and rereads bets.csv; on a loaded machine
  // that can take long, and the guard is as generous as the waits below.
  // The first start takes the port the kernel picks; each restart takes it again.
  let server = await startServer(serverArgs, { startTimeoutMs: 120_000 });
  const { port } = server;
  const startOnPort = () => startServer(serverArgs, { port, startTimeoutMs: 120_000 });
  const agencyRuns = options.files.map((file, i) =>
    startAgency(i + 1, port, ['--data-file', file, '--retry-timeout', '120', ...(options.agencyArgs ?? [])]),
  );
  const kills: string[] = [];
  try {
    for (const crash of options.crashes) {
      await server.waitForLine(crash.after, { count: crash.count ?? 1, timeoutMs: 120_000 });
      server.child.kill('SIGKILL');
      await server.exited;
      kills.push(crash.name);
      server = await startOnPort();
    }
    const runs = await Promise.all(agencyRuns.map((agency) => agency.result));
    const serverCode = await server.stop();
    return { runs, storedRows: await readStoredRows(options.dataDir), kills, serverCode };
  } catch (error) {
    for (const agency of agencyRuns) agency.child.kill('SIGKILL');
    server.child.kill('SIGKILL');
    throw error;
  }
}
