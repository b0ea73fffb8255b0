// Throwaway PostgreSQL clusters for the tests: Debian's postgresql-15,
// initdb into a temp dir, started by pg_ctl on a free loopback port with its
// socket in that dir, never the machine's shared cluster; optionally a
// synchronous standby made by pg_basebackup. Run as the `postgres` user when
// the tests run as root (PostgreSQL refuses to run as root).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rmSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PG_BIN = process.env.LOTTERY_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why the PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresMissing(): string | undefined {
  if (existsSync(join(PG_BIN, 'initdb'))) return undefined;
  return `PostgreSQL tests skipped: no ${PG_BIN}/initdb; install it with \`apt-get install postgresql-15\` (or set LOTTERY_PG_BIN)`;
}

const asRoot = userInfo().uid === 0;

/** The clusters started and not yet removed: stopped when the test process exits, however it ends. */
const running = new Set<PostgresCluster>();

// A test that times out never runs its teardown: ava ends the worker, and
// its exit stops every cluster still running, so that none outlives the run.
const removeRunning = () => {
  for (const cluster of running) cluster.removeNow();
};
process.once('exit', removeRunning);
// A signal ends the process without its exit event (Ctrl-C, or npm test's
// runner stopping the tests when a check fails): the clusters are stopped
// first, then the signal is raised again to end the process as it would have.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    removeRunning();
    process.kill(process.pid, signal);
  });
}

/** Runs a PostgreSQL program, as the postgres user when this process is root. */
async function pg(program: string, args: string[]): Promise<string> {
  const path = join(PG_BIN, program);
  const { stdout } = asRoot ? await run('runuser', ['-u', 'postgres', '--', path, ...args]) : await run(path, args);
  return stdout;
}

/** A port nothing listened on a moment ago; pg_ctl's start is retried on another if it is taken meanwhile. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A running node: its data dir, port and URL, and the server options it was started with (kept for a restart). */
export type PostgresNode = { dir: string; port: number; url: string; options: string };

export class PostgresCluster {
  readonly root: string;
  readonly primary: PostgresNode;
  standby: PostgresNode | undefined;

  private constructor(root: string, primary: PostgresNode) {
    this.root = root;
    this.primary = primary;
  }

  /**
   * initdb and start a cluster; `synchronousStandby`: also a standby that
   * every commit waits for; `tls`: the primary also speaks TLS (ssl=on) with
   * this certificate and key, in PEM.
   */
  static async start({
    synchronousStandby = false,
    tls,
  }: { synchronousStandby?: boolean; tls?: { cert: string; key: string } } = {}): Promise<PostgresCluster> {
    const root = await mkdtemp(join(tmpdir(), 'lottery-pg-'));
    await chmod(root, 0o755);
    if (asRoot) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: group } = await run('id', ['-g', 'postgres']);
      await chown(root, Number(stdout), Number(group));
    }
    const dir = join(root, 'primary');
    const cluster = new PostgresCluster(root, { dir, port: 0, url: '', options: '' });
    running.add(cluster);
    try {
      await cluster.#init(synchronousStandby, tls === undefined ? [] : await cluster.#tlsSettings(tls));
    } catch (error) {
      await cluster.remove();
      throw error;
    }
    return cluster;
  }

  /** The server's certificate and key where PostgreSQL may read them (its own, the key 0600), and the settings that use them. */
  async #tlsSettings({ cert, key }: { cert: string; key: string }): Promise<string[]> {
    const certFile = join(this.root, 'server.crt');
    const keyFile = join(this.root, 'server.key');
    await writeFile(certFile, cert);
    await writeFile(keyFile, key, { mode: 0o600 });
    if (asRoot) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: group } = await run('id', ['-g', 'postgres']);
      for (const file of [certFile, keyFile]) await chown(file, Number(stdout), Number(group));
    }
    return ['-c', 'ssl=on', '-c', `ssl_cert_file=${certFile}`, '-c', `ssl_key_file=${keyFile}`];
  }

  async #init(synchronousStandby: boolean, primarySettings: string[]): Promise<void> {
    const {
      root,
      primary: { dir },
    } = this;
    const cluster = this;
    await pg('initdb', ['-D', dir, '-A', 'trust', '-U', 'lottery', '--no-sync', '-E', 'UTF8']);
    const settings = ['-c', 'wal_level=replica', '-c', 'max_wal_senders=4'];
    if (synchronousStandby) settings.push('-c', "synchronous_standby_names='standby'");
    Object.assign(cluster.primary, await cluster.#startNode(dir, [...settings, ...primarySettings]));
    if (synchronousStandby) {
      const standbyDir = join(root, 'standby');
      await pg('pg_basebackup', [
        '-D',
        standbyDir,
        '-R',
        '-X',
        'stream',
        '-h',
        '127.0.0.1',
        '-p',
        `${cluster.primary.port}`,
        '-U',
        'lottery',
      ]);
      const conninfo = `host=127.0.0.1 port=${cluster.primary.port} user=lottery application_name=standby`;
      cluster.standby = { dir: standbyDir, ...(await cluster.#startNode(standbyDir, ['-c', `primary_conninfo='${conninfo}'`])) };
      // Wait until the primary counts it as its synchronous standby.
      await cluster.sql(`select 1`);
      for (let tries = 0; ; tries++) {
        const state = await cluster.sql(`select sync_state from pg_stat_replication where application_name = 'standby'`);
        if (state === 'sync') break;
        if (tries > 200) throw new Error('the standby did not become synchronous within 20 s');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  async #startNode(dir: string, settings: string[]): Promise<{ port: number; url: string; options: string }> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const options = ['-p', `${port}`, '-k', this.root, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on', ...settings];
      try {
        await pg('pg_ctl', ['start', '-w', '-t', '60', '-D', dir, '-l', `${dir}.log`, '-o', options.join(' ')]);
        return { port, url: `postgres://lottery@127.0.0.1:${port}/postgres`, options: options.join(' ') };
      } catch (error) {
        if (attempt >= 5) throw error;
      }
    }
  }

  /** A URL naming both hosts, the primary first, that connects only to the one that takes writes. */
  get failoverUrl(): string {
    if (this.standby === undefined) throw new Error('no standby');
    return `postgres://lottery@127.0.0.1:${this.primary.port},127.0.0.1:${this.standby.port}/postgres?target_session_attrs=read-write`;
  }

  /** Runs SQL with psql on database `database` of `node` (the primary unless told); its unaligned output, trimmed. */
  async sql(statement: string, database = 'postgres', node: PostgresNode = this.primary): Promise<string> {
    const output = await pg('psql', ['-h', '127.0.0.1', '-p', `${node.port}`, '-U', 'lottery', '-d', database, '-XAtqc', statement]);
    return output.trim();
  }

  /** A database of its own in this cluster, for a test; its URL. */
  async database(name: string): Promise<string> {
    await this.sql(`create database ${name}`);
    return this.primary.url.replace(/\/postgres$/, `/${name}`);
  }

  /** Stops a node: `immediate` is a crash (no shutdown checkpoint). */
  stop(node: PostgresNode, mode: 'fast' | 'immediate' = 'fast'): Promise<string> {
    return pg('pg_ctl', ['stop', '-w', '-D', node.dir, '-m', mode]);
  }

  /** Starts a stopped node again on its port, with its options. */
  async restart(node: PostgresNode): Promise<void> {
    await pg('pg_ctl', ['start', '-w', '-t', '60', '-D', node.dir, '-l', `${node.dir}.log`, '-o', node.options]);
  }

  /**
   * Stops every process of `node` (SIGSTOP), as a machine that hangs: its
   * kernel still takes connections, and nothing answers them.
   */
  async freeze(node: PostgresNode): Promise<void> {
    await this.#signalAll(node, 'SIGSTOP');
  }

  /**
   * Ends every process of `node` (SIGKILL), frozen or not: the node fenced
   * off for good. Its postmaster.pid goes with it, so that a second kill
   * finds nothing rather than a number another process may have by then.
   */
  async kill(node: PostgresNode): Promise<void> {
    await this.#signalAll(node, 'SIGKILL');
    await rm(join(node.dir, 'postmaster.pid'), { force: true });
  }

  /**
   * The postmaster is stopped first, so that it starts no process meanwhile,
   * and its children are found while they are still its own: killed first,
   * they would be left to init, running.
   */
  async #signalAll(node: PostgresNode, signal: NodeJS.Signals): Promise<void> {
    const postmaster = Number((await readFile(join(node.dir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    process.kill(postmaster, 'SIGSTOP');
    const children = await run('pgrep', ['-P', String(postmaster)]).then(
      ({ stdout }) => stdout.split('\n').filter((line) => line !== ''),
      () => [],
    );
    for (const child of children) process.kill(Number(child), signal);
    process.kill(postmaster, signal);
  }

  promoteStandby(): Promise<string> {
    return pg('pg_ctl', ['promote', '-w', '-D', this.standby!.dir]);
  }

  /** Stops every node and removes the cluster's files. */
  async remove(): Promise<void> {
    running.delete(this);
    for (const node of [this.standby, this.primary]) {
      if (node !== undefined) await this.stop(node, 'immediate').catch(() => undefined);
    }
    await rm(this.root, { recursive: true, force: true });
  }

  /** remove(), synchronously: for the process's exit, when nothing asynchronous runs any more. */
  removeNow(): void {
    running.delete(this);
    for (const node of [this.standby, this.primary]) {
      if (node === undefined || !existsSync(join(node.dir, 'postmaster.pid'))) continue;
      const args = ['stop', '-w', '-D', node.dir, '-m', 'immediate'];
      try {
        if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), ...args], { stdio: 'ignore' });
        else execFileSync(join(PG_BIN, 'pg_ctl'), args, { stdio: 'ignore' });
      } catch {
        // Stopped already, or never started: nothing of it runs.
      }
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
