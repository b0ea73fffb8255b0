// One course run of another implementation of the exercise (a peer: a
// Python server and Go agencies, built by shared/peers/build-peers.sh), run
// as shared/peers/run-peer.sh runs it and checked as it checks it, but
// spawned from this process with no shell and no helper in between: so that
// the kernel's count of this process's reaped children, taken before and
// after, is the CPU of the peer's own processes and of nothing else (its
// server, the server's worker processes, its five clients). run-peer.sh's
// helpers (awk, sed, a Python to pick a port) would add about 0.2 s to it.
//   const run = await runPeer('fdelu', { peersDir: '/tmp/peers' });
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { reapedChildrenCpuMs } from './process-cpu.ts';

const AGENCIES = 5;
const ROWS = 78_697;
const WINNERS_PER_AGENCY = '2,3,3,2,0';
/** As run-peer.sh: a client that hangs is stopped after this. */
const CLIENT_TIMEOUT_MS = 180_000;
/** How long fdelu's server, which exits by itself after the draw, is given to do so (run-peer.sh: 10 s). */
const SERVER_EXIT_MS = 10_000;

export type PeerName = 'fdelu' | 'gabokatta';
export const PEER_NAMES: readonly PeerName[] = ['fdelu', 'gabokatta'];

export type PeerRun = {
  /** Spawning the server to the last client's exit. */
  seconds: number;
  /** Spawning the server to its port listening. */
  listenSeconds: number;
  /** User + system CPU of the server (and its worker processes) and the five clients, from the kernel's count for reaped children. */
  cpuMs: number;
  /** What run-peer.sh's checks would call wrong: bets.csv's rows, its 7574s per agency, the exit codes; empty when right. */
  failures: string[];
};

/** The interpreter behind `python3` (a pyenv shim adds about 0.25 s to every start), resolved once as run-peer.sh does. */
let python: string | undefined;

export async function runPeer(name: PeerName, { peersDir }: { peersDir: string }): Promise<PeerRun> {
  python ??= execFileSync(process.env.PYTHON ?? 'python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  const tree = join(peersDir, name);
  const dataset = join(peersDir, 'dataset');
  const run = await mkdtemp(join(peersDir, `runs-${name}-`));
  try {
    await mkdir(join(run, 'server'));
    await copyFile(join(tree, 'server', 'config.ini'), join(run, 'server', 'config.ini'));
    const clientConfig = await readFile(join(tree, 'client', 'config.yaml'), 'utf8');
    for (let id = 1; id <= AGENCIES; id++) {
      const dir = join(run, `agency-${id}`);
      await mkdir(dir);
      // fdelu's batch size stays its config's (20); gabokatta's default loses bets, so 256 as run-peer.sh does.
      await writeFile(join(dir, 'config.yaml'), clientConfig);
      if (name === 'gabokatta') {
        await mkdir(join(dir, '.data'));
        await symlink(join(dataset, `agency-${id}.csv`), join(dir, '.data', `agency-${id}.csv`));
      }
    }
    // A port from below the kernel's range for outgoing connections: one
    // there can still be in TIME_WAIT from an earlier run's client, which a
    // Python bind without SO_REUSEADDR refuses. Another program may take it
    // first all the same: then another port, and the attempt is not counted.
    let port = 0;
    let cpuBefore = 0;
    let started = 0;
    let server: ChildProcess | undefined;
    for (let attempt = 1; server === undefined; attempt++) {
      port = await freePort();
      const serverEnv = {
        ...process.env,
        PYTHONUNBUFFERED: '1',
        SERVER_PORT: String(port),
        SERVER_LISTEN_BACKLOG: '5',
        LOGGING_LEVEL: 'INFO',
        ...(name === 'fdelu' ? { NUMBER_OF_AGENCIES: String(AGENCIES) } : { AGENCY_AMOUNT: String(AGENCIES) }),
      };
      cpuBefore = await reapedChildrenCpuMs();
      started = performance.now();
      const serverLog = openSync(join(run, 'server.log'), 'w');
      const child = spawn(python, [join(tree, 'server', 'main.py')], {
        cwd: join(run, 'server'),
        env: serverEnv,
        stdio: ['ignore', serverLog, serverLog],
      });
      closeSync(serverLog);
      // Never by connecting: fdelu's server would count a probe as an agency.
      while (!(await listening(port))) {
        if (child.exitCode !== null) break;
        if (performance.now() - started > 30_000) {
          child.kill('SIGKILL');
          throw new Error(`${name}: its server did not listen within 30 s`);
        }
        await sleep(5);
      }
      if (child.exitCode === null) {
        server = child;
        break;
      }
      const said = (await readFile(join(run, 'server.log'), 'utf8')).trim().split('\n').slice(-5).join('\n');
      if (!/Address already in use/.test(said) || attempt === 5)
        throw new Error(`${name}: its server exited (${child.exitCode}) before it listened:\n${said}`);
    }
    const listenSeconds = (performance.now() - started) / 1000;
    const serverExit = exitCode(server);
    let clientCodes: number[];
    let seconds: number;
    try {
      const clients = Array.from({ length: AGENCIES }, (_, i) => {
        const id = i + 1;
        const env =
          name === 'fdelu'
            ? {
                CLI_ID: String(id),
                CLI_SERVER_ADDRESS: `127.0.0.1:${port}`,
                CLI_LOG_LEVEL: 'info',
                CLI_BETS_FILE: join(dataset, `agency-${id}.csv`),
              }
            : {
                CLI_ID: String(id),
                CLI_SERVER_ADDRESS: `127.0.0.1:${port}`,
                CLI_LOG_LEVEL: 'INFO',
                CLI_BATCH_MAXAMOUNT: '256',
                CLI_WINNERS_TIMEOUT: '60s',
              };
        const child = spawn(join(tree, 'bin', 'client'), [], {
          cwd: join(run, `agency-${id}`),
          env: { ...process.env, ...env },
          stdio: 'ignore',
          timeout: CLIENT_TIMEOUT_MS,
          killSignal: 'SIGKILL',
        });
        return exitCode(child);
      });
      clientCodes = await Promise.all(clients);
      seconds = (performance.now() - started) / 1000;
    } finally {
      // fdelu's server exits by itself once it has answered every agency; gabokatta's serves until SIGTERM.
      if (name === 'fdelu') await Promise.race([serverExit, sleep(SERVER_EXIT_MS, undefined, { ref: false })]);
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
      await Promise.race([serverExit, sleep(SERVER_EXIT_MS, undefined, { ref: false })]);
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
      await serverExit;
    }
    const cpuMs = (await reapedChildrenCpuMs()) - cpuBefore;
    const failures: string[] = [];
    const rows = (await readFile(join(run, 'server', 'bets.csv'), 'utf8').catch(() => '')).split('\n').filter((line) => line !== '');
    if (rows.length !== ROWS) failures.push(`${name}: bets.csv holds ${rows.length} rows, not ${ROWS}`);
    const winners = Array.from(
      { length: AGENCIES },
      (_, i) => rows.filter((row) => row.startsWith(`${i + 1},`) && Number(row.split(',')[5]) === 7574).length,
    );
    if (winners.join() !== WINNERS_PER_AGENCY)
      failures.push(`${name}: 7574s per agency in bets.csv ${winners.join()}, not ${WINNERS_PER_AGENCY}`);
    if (clientCodes.some((code) => code !== 0)) failures.push(`${name}: clients exited ${clientCodes.join(',')}`);
    return { seconds, listenSeconds, cpuMs, failures };
  } finally {
    await rm(run, { recursive: true, force: true });
  }
}

/** Resolves with the exit code (128 + n for a signal) once the child has exited and been reaped. */
function exitCode(child: ChildProcess): Promise<number> {
  return once(child, 'exit').then(([code, signal]) => (code as number | null) ?? 128 + (signal === 'SIGKILL' ? 9 : 15));
}

/** A port below the kernel's range for outgoing connections (32768 on) that was free on every address a moment ago. */
async function freePort(): Promise<number> {
  while (true) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const probe = createServer();
    const free = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen({ port }, () => resolve(true));
    });
    if (free) {
      await new Promise((resolve) => probe.close(resolve));
      return port;
    }
  }
}

/** Whether something listens on TCP `port` (IPv4 or IPv6), from /proc alone. */
async function listening(port: number): Promise<boolean> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const rows = (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1);
    if (
      rows.some((row) => {
        const fields = row.trim().split(/\s+/);
        return fields[3] === '0A' && fields[1]?.endsWith(hex);
      })
    )
      return true;
  }
  return false;
}
