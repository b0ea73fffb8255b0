// Supervisor. Runs on the main thread of lottery-server: starts the
// Acceptor here first of all (agencies may connect while the rest boots),
// then takes the data dir's lock and starts the store worker (which runs the
// Store and the Lottery) and W session workers; wires the session workers'
// MessagePorts to the store worker; lets the Acceptor hand its connections
// over once all of them are up; replaces a session worker that dies; and on
// stop closes everything in order, logging one line per resource closed.

import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo, Socket } from 'node:net';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { ServerConfig } from '../config/server-config.ts';
import { logEvent, type Logger } from '../log/logger.ts';
import { lockDataDir, type DataDirLock } from '../storage/data-dir-lock.ts';
import { Acceptor } from './acceptor.ts';
import type { LotteryStatus } from '../ledger/lottery-status.ts';
import type { MonitorServer } from '../http/monitor-server.ts';
import type { MetricsSnapshot } from '../metrics/lottery-metrics.ts';
import { projectVersion } from '../config/program-config.ts';
import type { ServerTlsFiles } from '../transport/server-transport.ts';
import type { EarlyListener } from '../transport/early-listener.ts';
import type {
  FromSessionWorker,
  FromStoreWorker,
  SessionWorkerData,
  StoreWorkerData,
  ToSessionWorker,
  ToStoreWorker,
} from './worker-messages.ts';

/**
 * Shutdown gives sessions this long to answer the frame in hand and close,
 * and then the Store this long to commit, sync and close: together under the
 * 10 s that a container runtime or an operator usually waits.
 */
const SESSIONS_STOP_MS = 6000;
const STORE_STOP_MS = 3000;
/** How long a halt waits for the workers to end (see halt). */
const HALT_MS = 1000;
/** A worker that does not hand over its figures (or the store its status) within this is left out, or not ready. */
const OBSERVE_MS = 1000;

type SessionWorker = { id: number; worker: Worker; ready: boolean; connections: Set<number> };

export class Supervisor {
  readonly #config: ServerConfig;
  readonly #log: Logger;
  #lock: Pick<DataDirLock, 'release'> | undefined;
  readonly #tls: ServerTlsFiles | undefined;
  #storeWorker!: Worker;
  #acceptor!: Acceptor;
  #address!: AddressInfo;
  readonly #workers: SessionWorker[] = [];
  readonly #connections = new Map<number, SessionWorker>();
  /** The connection currently speaking for each agency: a newer one takes over. */
  readonly #agencyConnections = new Map<number, number>();
  /** The other way round, so that a closed connection is forgotten without a search. */
  readonly #connectionAgencies = new Map<number, number>();
  /** Each connection's peer, address:port, to name both when one agency connects twice. */
  readonly #peers = new Map<number, string>();
  /** Agencies whose duplicate connections were logged: once each, not at every turn of their fight. */
  readonly #duplicatesLogged = new Set<number>();
  #nextWorkerId = 1;
  #roundRobin = 0;
  #stopping: Promise<void> | undefined;
  readonly #failure = Promise.withResolvers<Error>();
  #monitor: MonitorServer | undefined;
  #listening = false;
  #startFailureLogged = false;
  #nextRequest = 1;
  /** Answers awaited from the workers (metrics, the store's status), by request id. */
  readonly #requests = new Map<number, (answer: unknown) => void>();

  private constructor(config: ServerConfig, log: Logger, tls: ServerTlsFiles | undefined) {
    this.#config = config;
    this.#log = log;
    this.#tls = tls;
  }

  /**
   * Starts the server; a failure is logged here (`start | fail`, before any
   * line its clean-up writes), then thrown. `tls`: the files already read
   * (see loadServerTls); without them the server speaks plaintext.
   * `listening`: the socket lottery-server opened first of all, or the
   * error that listen met; without it the server listens here.
   */
  static async start(config: ServerConfig, log: Logger, tls?: ServerTlsFiles, listening?: EarlyListener | Error): Promise<Supervisor> {
    const supervisor = new Supervisor(config, log, tls);
    try {
      if (listening instanceof Error) throw listening;
      await supervisor.#start(listening);
    } catch (error) {
      if (!supervisor.#startFailureLogged) logEvent(log, 'error', 'start', 'fail', { error: (error as Error).message });
      throw error;
    }
    return supervisor;
  }

  get address(): AddressInfo {
    return this.#address;
  }

  /** The HTTP endpoint's address, if --http-port was given. */
  get monitorAddress(): AddressInfo | undefined {
    return this.#monitor?.address;
  }

  /**
   * Resolves if the server can no longer do its work (its Store worker died):
   * then the program must exit non-zero, so that whatever supervises it
   * (Compose's `restart:`, systemd) restarts it and recovery takes over,
   * rather than leave a zombie that still answers PING.
   */
  get failure(): Promise<Error> {
    return this.#failure.promise;
  }

  async #start(listening: EarlyListener | undefined): Promise<void> {
    const config = this.#config;
    // Listen first: agencies may connect from now on, while the rest boots;
    // the Acceptor holds what it accepts, unread and unanswered, until the
    // Store is open and the session workers are up. A port in use stops the
    // start here, before the data dir is made or locked and before any line
    // says which lottery this is.
    this.#acceptor = new Acceptor({
      host: config.host,
      port: config.port,
      maxConnections: config.maxConnections,
      maxUnauthenticatedPerAddress: config.maxUnauthenticatedPerAddress,
      log: this.#log,
      logRefusals: config.logRefusals,
      dispatch: (socket, connection) => this.#dispatch(socket, connection),
      ...(listening === undefined ? {} : { listening }),
    });
    this.#address = await this.#acceptor.listen();
    logEvent(this.#log, 'info', 'bind', 'success', {
      host: this.#address.address,
      port: this.#address.port,
      tls: this.#tls === undefined ? 'off' : 'on',
      aviso: 'connections wait until the store is open',
    });
    try {
      await this.#boot();
    } catch (error) {
      // Whatever it held is reset unread: nothing was answered, nothing stored.
      await this.#acceptor.close();
      throw error;
    }
    this.#acceptor.serve();
    this.#listening = true;
  }

  /** Everything but the Acceptor: the lock, the HTTP endpoint, the store worker and the session workers. */
  async #boot(): Promise<void> {
    const config = this.#config;
    // Before anything touches the data dir: a second server stops here. A
    // database is shared by design: its transactions keep front-ends apart.
    if (config.store === '') {
      const lock = await lockDataDir(config.dataDir);
      this.#lock = lock;
      void lock.lost.then((error) => {
        logEvent(this.#log, 'error', 'data_dir_lock', 'fail', { error: error.message, fatal: true });
        this.#failure.resolve(error);
      });
    } else this.#lock = { release: async () => undefined };
    // Before the store recovers, so that /livez answers and /readyz says 503 meanwhile.
    if (config.httpPort !== null) await this.#startMonitor(config.httpPort);
    const storeData: StoreWorkerData = {
      dataDir: config.dataDir,
      ...(config.store === '' ? {} : { store: { url: config.store, lottery: config.lottery } }),
      fsync: config.fsync,
      agencies: config.agencies,
      closeAt: config.closeAt,
      resultsCert: config.resultsCert,
      resultsKey: config.resultsKey,
      logLevel: config.logLevel,
      logFormat: config.logFormat,
      metrics: config.httpPort !== null,
    };
    this.#storeWorker = new Worker(new URL('./store-worker.ts', import.meta.url), { workerData: storeData });
    type StoreStarted = Extract<FromStoreWorker, { type: 'ready' | 'failed' }>;
    const storeStarted = new Promise<StoreStarted>((resolve) => {
      this.#storeWorker.once('message', resolve);
      this.#storeWorker.once('error', (error: Error) => resolve({ type: 'failed', message: error.message }));
      this.#storeWorker.once('exit', (code) => resolve({ type: 'failed', message: `its thread exited (${code}) before it was ready` }));
    });
    // Session workers start meanwhile: their calls to the Store and the
    // Lottery wait in their ports until the store worker is up.
    const sessionsStarted = Promise.all(Array.from({ length: config.workers }, () => this.#startSessionWorker()));
    const started = await storeStarted;
    if (started.type !== 'ready') {
      this.#stopping = Promise.resolve();
      await sessionsStarted.catch(() => undefined);
      await Promise.all(this.#workers.map(({ worker }) => worker.terminate()));
      await this.#monitor?.close();
      await this.#lock.release();
      throw new Error(`the store could not start: ${started.message}`);
    }
    this.#storeWorker.on('message', (message: FromStoreWorker) => {
      if (message.type === 'observed') this.#answered(message.id, message);
    });
    let storeError: string | undefined;
    this.#storeWorker.on('error', (error: Error) => (storeError = error.message));
    this.#storeWorker.once('exit', (code) => {
      if (this.#stopping !== undefined) return;
      const reason = `the store worker exited (${code})${storeError === undefined ? '' : `: ${storeError}`}`;
      logEvent(this.#log, 'error', 'store', 'fail', { error: reason, fatal: true });
      this.#failure.resolve(new Error(reason));
    });
    if (started.refused !== undefined) {
      // Said first: the workers' own lines as they close come after.
      logEvent(this.#log, 'error', 'start', 'fail', { error: started.refused });
      this.#startFailureLogged = true;
      await sessionsStarted.catch(() => undefined);
      await this.stop('refused to start', { quiet: true });
      throw new Error(started.refused);
    }
    await sessionsStarted;
    // Said once the server serves: what `listen` has always meant to an
    // operator (and to a health check) is that the lottery is open.
    logEvent(this.#log, 'info', 'listen', 'success', {
      host: this.#address.address,
      port: this.#address.port,
      apuestas: started.snapshot.bets,
      tls: this.#tls === undefined ? 'off' : 'on',
    });
  }

  async #startMonitor(port: number): Promise<void> {
    // Loaded only for --http-port: prom-client alone costs a Node start's worth of the main thread.
    const [{ AggregatorRegistry }, { startMonitorServer }, { mainMetrics }] = await Promise.all([
      import('prom-client'),
      import('../http/monitor-server.ts'),
      import('../metrics/lottery-metrics.ts'),
    ]);
    const config = this.#config;
    const tls = config.httpPlain ? undefined : this.#tls;
    const info = { version: projectVersion(), agencies: config.agencies, store: 'file' };
    const connections = () => ({ agency: this.#agencyConnections.size, other: this.#connections.size - this.#agencyConnections.size });
    const main = mainMetrics(info, connections);
    this.#monitor = await startMonitorServer(
      { host: config.httpHost, port, ...(tls === undefined ? {} : { tls }) },
      {
        ready: async () => this.#listening && this.#stopping === undefined && (await this.#observe()) !== undefined,
        status: async () => (await this.#observe())?.status,
        metrics: async () => {
          const sessions = await Promise.all(this.#workers.filter((entry) => entry.ready).map((entry) => this.#sessionMetrics(entry)));
          const store = (await this.#observe())?.metrics;
          const all = [await main.registry.getMetricsAsJSON(), ...sessions, ...(store === undefined ? [] : [store])];
          const registry = AggregatorRegistry.aggregate(all.filter((metrics) => metrics !== undefined));
          return { contentType: registry.contentType, text: await registry.metrics() };
        },
      },
    );
    logEvent(this.#log, 'info', 'listen_http', 'success', {
      host: this.#monitor.address.address,
      port: this.#monitor.address.port,
      tls: tls === undefined ? 'off' : 'on',
    });
  }

  /** Asks a worker and waits, at most OBSERVE_MS, for the answer that carries `id`; undefined if none came. */
  async #ask<T>(send: (id: number) => void): Promise<T | undefined> {
    const id = this.#nextRequest++;
    const answer = Promise.withResolvers<T | undefined>();
    this.#requests.set(id, answer.resolve as (answer: unknown) => void);
    try {
      send(id);
      return await Promise.race([answer.promise, sleep(OBSERVE_MS, undefined, { ref: false })]);
    } finally {
      this.#requests.delete(id);
    }
  }

  #answered(id: number, answer: unknown): void {
    this.#requests.get(id)?.(answer);
  }

  /** The store worker's status and figures; undefined if it is gone or does not answer. */
  #observe(): Promise<{ status?: LotteryStatus; metrics: MetricsSnapshot } | undefined> {
    const worker = this.#storeWorker;
    if (worker === undefined || worker.threadId === -1) return Promise.resolve(undefined);
    return this.#ask((id) => worker.postMessage({ type: 'observe', id } satisfies ToStoreWorker));
  }

  async #sessionMetrics(entry: SessionWorker): Promise<MetricsSnapshot | undefined> {
    const answer = await this.#ask<{ metrics: MetricsSnapshot }>((id) =>
      entry.worker.postMessage({ type: 'metrics', id } satisfies ToSessionWorker),
    );
    return answer?.metrics;
  }

  /** Tells the Lottery's status whether an agency has a live connection. */
  #agencyConnection(agency: number, connected: boolean): void {
    this.#storeWorker.postMessage({ type: 'agency-connection', agency, connected } satisfies ToStoreWorker);
  }

  /** A new port onto the Store actor, or with `lottery` onto the Lottery actor beside it. */
  #storeWorkerPort(actor: 'store' | 'lottery'): MessagePort {
    const { port1, port2 } = new MessageChannel();
    const type = actor === 'store' ? 'connect' : 'connect-lottery';
    this.#storeWorker.postMessage({ type, port: port2 } satisfies ToStoreWorker, [port2]);
    return port1;
  }

  /** Has the Lottery answer every held WINNERS with SERVER_STOPPING; bounded, as the store worker may be gone. */
  async #stopLottery(): Promise<void> {
    const worker = this.#storeWorker;
    if (worker === undefined || worker.threadId === -1) return;
    const stopped = new Promise<void>((resolve) => {
      const onMessage = (message: FromStoreWorker) => {
        if (message.type !== 'lottery-stopped') return;
        worker.off('message', onMessage);
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('exit', () => resolve());
    });
    worker.postMessage({ type: 'stop-lottery' } satisfies ToStoreWorker);
    await finishesWithin(stopped, STORE_STOP_MS);
  }

  async #startSessionWorker(): Promise<void> {
    const storePort = this.#storeWorkerPort('store');
    const lotteryPort = this.#storeWorkerPort('lottery');
    const id = this.#nextWorkerId++;
    const data: SessionWorkerData = {
      worker: id,
      agencies: this.#config.agencies,
      handshakeTimeoutMs: this.#config.handshakeTimeout * 1000,
      handshakeQueueTimeoutMs: this.#config.handshakeQueueTimeout * 1000,
      maxHandshakes: this.#config.maxHandshakes,
      idleTimeoutMs: this.#config.idleTimeout * 1000,
      frameTimeoutMs: this.#config.frameTimeout * 1000,
      logLevel: this.#config.logLevel,
      logFormat: this.#config.logFormat,
      logBatches: this.#config.logBatches,
      logRefusals: this.#config.logRefusals,
      storePort,
      lotteryPort,
      metrics: this.#config.httpPort !== null,
      ...(this.#tls === undefined ? {} : { tls: this.#tls }),
    };
    const worker = new Worker(new URL('./session-worker.ts', import.meta.url), {
      workerData: data,
      transferList: [storePort, lotteryPort],
    });
    const entry: SessionWorker = { id, worker, ready: false, connections: new Set() };
    this.#workers.push(entry);
    worker.on('message', (message: FromSessionWorker) => this.#fromSessionWorker(entry, message));
    worker.on('error', (error: Error) => logEvent(this.#log, 'error', 'session_worker', 'fail', { worker: id, error: error.message }));
    worker.once('exit', (code) => this.#onSessionWorkerExit(entry, code));
    const [first] = (await once(worker, 'message')) as [FromSessionWorker];
    if (first.type !== 'ready') throw new Error(`session worker ${id} did not start`);
    entry.ready = true;
  }

  #fromSessionWorker(entry: SessionWorker, message: FromSessionWorker): void {
    switch (message.type) {
      case 'hello': {
        const previous = this.#agencyConnections.get(message.agency);
        if (previous === undefined) this.#agencyConnection(message.agency, true);
        this.#agencyConnections.set(message.agency, message.connection);
        this.#connectionAgencies.set(message.connection, message.agency);
        this.#acceptor.authenticated(message.connection);
        if (previous !== undefined && previous !== message.connection) {
          const by = this.#peers.get(message.connection);
          const before = this.#peers.get(previous);
          if (!this.#duplicatesLogged.has(message.agency)) {
            this.#duplicatesLogged.add(message.agency);
            logEvent(this.#log, 'warn', 'agencia_duplicada', 'fail', {
              agencia: message.agency,
              anterior: before ?? '?',
              nueva: by ?? '?',
              error: 'a second connection speaks for this agency while the first is open: the first is closed with REPLACED',
            });
          }
          this.#connections
            .get(previous)
            ?.worker.postMessage({ type: 'replace', connection: previous, ...(by === undefined ? {} : { by }) } satisfies ToSessionWorker);
        }
        break;
      }
      case 'closed':
        this.#release(entry, message.connection);
        break;
      case 'metrics':
        this.#answered(message.id, message);
        break;
    }
  }

  #release(entry: SessionWorker, connection: number): void {
    entry.connections.delete(connection);
    this.#connections.delete(connection);
    this.#peers.delete(connection);
    this.#acceptor?.released(connection);
    const agency = this.#connectionAgencies.get(connection);
    this.#connectionAgencies.delete(connection);
    if (agency !== undefined && this.#agencyConnections.get(agency) === connection) {
      this.#agencyConnections.delete(agency);
      if (this.#stopping === undefined) this.#agencyConnection(agency, false);
    }
  }

  #onSessionWorkerExit(entry: SessionWorker, code: number): void {
    this.#workers.splice(this.#workers.indexOf(entry), 1);
    for (const connection of [...entry.connections]) this.#release(entry, connection);
    if (this.#stopping !== undefined || !entry.ready) return;
    // Its connections are gone with it; their agencies reconnect and resume.
    logEvent(this.#log, 'error', 'session_worker', 'fail', { worker: entry.id, exit_code: code, replaced: true });
    this.#startSessionWorker().catch((error: Error) => {
      logEvent(this.#log, 'error', 'session_worker', 'fail', { error: error.message });
    });
  }

  #dispatch(socket: Socket, connection: number): void {
    const ready = this.#workers.filter((entry) => entry.ready);
    if (ready.length === 0) {
      socket.destroy();
      this.#acceptor.released(connection);
      return;
    }
    const entry = ready[this.#roundRobin++ % ready.length];
    entry.connections.add(connection);
    this.#connections.set(connection, entry);
    if (socket.remoteAddress !== undefined) this.#peers.set(connection, `${socket.remoteAddress}:${socket.remotePort}`);
    // Node >= 26.6 moves an accepted socket's handle to another thread.
    entry.worker.postMessage({ type: 'socket', socket, connection } satisfies ToSessionWorker, [socket as never]);
  }

  /**
   * Graceful shutdown. Safe to call more than once: later calls wait for the
   * first. `quiet`: for a start-up that is refused, nothing to tell but why.
   */
  stop(reason: string, { quiet = false } = {}): Promise<void> {
    this.#stopping ??= this.#stop(reason, quiet ? this.#log.child({}, { level: 'silent' }) : this.#log);
    return this.#stopping;
  }

  /**
   * For a failure the server cannot go on from (see `failure`): every
   * worker ended at once, nothing answered or closed in order, so that none
   * of their lines comes after the one that says why the server exits. At
   * most `ms`: a thread stuck in a system call is left to the exit.
   */
  async halt(ms = HALT_MS): Promise<void> {
    this.#stopping ??= Promise.resolve();
    const workers = [...this.#workers.map(({ worker }) => worker), ...(this.#storeWorker === undefined ? [] : [this.#storeWorker])];
    await finishesWithin(Promise.all(workers.map((worker) => worker.terminate())), ms);
  }

  async #stop(reason: string, log: Logger): Promise<void> {
    logEvent(log, 'info', 'shutdown', 'in_progress', { reason });
    await this.#acceptor?.close();
    logEvent(log, 'info', 'close_acceptor', 'success');
    await this.#stopLottery();
    logEvent(log, 'info', 'close_lottery', 'success');

    const sessionsDone = Promise.all(
      [...this.#workers].map(async ({ worker }) => {
        const exited = once(worker, 'exit');
        worker.postMessage({ type: 'stop', reason: `the server is stopping (${reason})` } satisfies ToSessionWorker);
        await exited;
      }),
    );
    if (!(await finishesWithin(sessionsDone, SESSIONS_STOP_MS))) {
      logEvent(log, 'warn', 'close_session_workers', 'fail', { reason: `not closed within ${SESSIONS_STOP_MS / 1000} s, terminated` });
      await Promise.all(this.#workers.map(({ worker }) => worker.terminate()));
    } else {
      logEvent(log, 'info', 'close_session_workers', 'success');
    }

    if (this.#storeWorker !== undefined) {
      const exited = once(this.#storeWorker, 'exit');
      this.#storeWorker.postMessage({ type: 'close' } satisfies ToStoreWorker);
      if (!(await finishesWithin(exited, STORE_STOP_MS))) {
        logEvent(log, 'error', 'close_store', 'fail', { reason: 'the store did not close in time' });
        await this.#storeWorker.terminate();
      }
    }
    // Last, so that /readyz says 503 and /livez answers all through the shutdown.
    if (this.#monitor !== undefined) {
      await this.#monitor.close();
      logEvent(log, 'info', 'close_http', 'success');
    }
    await this.#lock?.release();
    logEvent(log, 'info', 'shutdown', 'success');
  }
}

async function finishesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  const done = new AbortController();
  try {
    return await Promise.race([work.then(() => true), sleep(ms, false, { signal: done.signal })]);
  } finally {
    done.abort();
  }
}
