import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import type { ResultsSigner } from '../audit/results.ts';
import {
  configFileSetting,
  flagAndVariable,
  loadProgramConfig,
  loggingSettings,
  storeSettings,
  usageError,
  type ProgramInfo,
  type Schema,
} from './program-config.ts';
import { tlsCrlSetting, tlsSettings, type ServerTlsPaths } from './tls-settings.ts';
import type { LogFormat, LogLevel } from '../log/logger.ts';

/** Agencies per session worker when --workers is not given. */
export const AGENCIES_PER_WORKER = 8;

/** Session workers for `agencies` agencies when --workers is not given. */
export function defaultWorkers(agencies: number, parallelism = availableParallelism()): number {
  return Math.max(1, Math.min(parallelism, 256, Math.ceil(agencies / AGENCIES_PER_WORKER)));
}

export type ServerConfig = ServerTlsPaths & {
  port: number;
  host: string;
  agencies: number;
  dataDir: string;
  /** A PostgreSQL URL, or empty for the data dir. */
  store: string;
  lottery: string;
  workers: number;
  fsync: boolean;
  maxConnections: number;
  maxUnauthenticatedPerAddress: number;
  handshakeTimeout: number;
  handshakeQueueTimeout: number;
  maxHandshakes: number;
  idleTimeout: number;
  frameTimeout: number;
  httpPort: number | null;
  httpHost: string;
  httpPlain: boolean;
  logBatches: boolean;
  logRefusals: number;
  closeAt: string;
  resultsCert: string;
  resultsKey: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  config: string;
};

export const serverProgram: ProgramInfo = {
  name: 'lottery-server',
  usage: 'lottery-server [options]',
  summary:
    "The central lottery server: takes every agency's bets over TCP, stores them in <data-dir>/bets.csv,\n" +
    'runs the draw once agencies 1..N have all finished and answers each agency with its own winners.',
};

export const serverSchema = {
  port: { doc: 'TCP port to listen on', format: 'tcp-port', default: 12345, env: 'SERVER_PORT', arg: 'port' },
  host: { doc: 'address to listen on', format: String, default: '0.0.0.0', env: 'SERVER_HOST', arg: 'host' },
  agencies: {
    doc: 'number of agencies (ids 1..N, at most 100000); the draw runs when all of them have finished',
    format: 'agency-count',
    default: 5,
    env: 'LOTTERY_AGENCIES',
    arg: 'agencies',
  },
  dataDir: {
    doc: 'directory for bets.csv and its journal',
    format: String,
    default: '.data',
    env: 'LOTTERY_DATA_DIR',
    arg: 'data-dir',
  },
  ...storeSettings(
    'store the lottery in PostgreSQL instead of the data dir: a connection URL as libpq reads it, several hosts allowed\n' +
      '      (postgres://user@h1:5432,h2:5432/db?target_session_attrs=read-write); every front-end given it serves one lottery',
    'none: the data dir',
  ),
  workers: {
    doc: 'session worker threads, 1 to 256',
    format: 'worker-count',
    default: Math.min(availableParallelism(), 256),
    // A worker costs its thread's start (about as much CPU as a bare Node)
    // whether or not it has connections: a handful of agencies keep one busy.
    defaultFrom: ({ agencies }) => defaultWorkers(agencies as number),
    shownDefault: `one per ${AGENCIES_PER_WORKER} agencies, at most the machine's available parallelism`,
    env: 'LOTTERY_WORKERS',
    arg: 'workers',
  },
  fsync: {
    doc: 'sync bets.csv and the journal before acknowledging (on|off; off only for benchmarks)',
    format: 'on-off',
    default: true,
    shownDefault: 'on',
    env: 'LOTTERY_FSYNC',
    arg: 'fsync',
  },
  maxConnections: {
    doc: 'connections held open at once; more are answered ERROR and closed',
    format: 'positive-integer',
    default: 16384,
    env: 'LOTTERY_MAX_CONNECTIONS',
    arg: 'max-connections',
  },
  maxUnauthenticatedPerAddress: {
    doc: 'connections from one address that may be open at once before their HELLO (or TLS handshake) is done; more are closed at once, so a flood from one address cannot crowd out the others',
    format: 'positive-integer',
    default: 1024,
    env: 'LOTTERY_MAX_UNAUTHENTICATED_PER_ADDRESS',
    arg: 'max-unauthenticated-per-address',
  },
  handshakeTimeout: {
    doc:
      'seconds a new connection has to finish its TLS handshake and say HELLO (PING is allowed meanwhile), its wait\n' +
      '      for a handshake turn (--handshake-queue-timeout) apart',
    format: 'seconds',
    default: 10,
    env: 'LOTTERY_HANDSHAKE_TIMEOUT',
    arg: 'handshake-timeout',
  },
  handshakeQueueTimeout: {
    doc:
      'seconds a TLS connection that has sent its whole ClientHello may wait for a handshake turn (--max-handshakes);\n' +
      '      one still waiting then is told the server is busy, and its agency tries again',
    format: 'seconds',
    default: 60,
    env: 'LOTTERY_HANDSHAKE_QUEUE_TIMEOUT',
    arg: 'handshake-queue-timeout',
  },
  maxHandshakes: {
    doc:
      'TLS handshakes each session worker runs at once, at most a quarter of them for one address; other connections\n' +
      '      wait their turn once they have sent their whole ClientHello, addresses whose last handshake failed behind the\n' +
      '      others, at most --handshake-queue-timeout',
    format: 'positive-integer',
    default: 32,
    env: 'LOTTERY_MAX_HANDSHAKES',
    arg: 'max-handshakes',
  },
  idleTimeout: {
    doc:
      'seconds a connection may leave the server waiting (silent, or not reading its replies) before it is closed;\n' +
      '      time the server spends on its behalf (the Store, the draw it waits for) does not count',
    format: 'seconds',
    default: 60,
    env: 'LOTTERY_IDLE_TIMEOUT',
    arg: 'idle-timeout',
  },
  frameTimeout: {
    doc: 'seconds a frame may take to arrive once its first byte has, however its bytes trickle in',
    format: 'seconds',
    default: 10,
    env: 'LOTTERY_FRAME_TIMEOUT',
    arg: 'frame-timeout',
  },
  httpPort: {
    doc: 'port of the HTTP endpoint for operators (/metrics, /livez, /readyz, /status.json, the status page at /); off when not given',
    format: 'optional-tcp-port',
    default: null,
    shownDefault: 'off',
    env: 'LOTTERY_HTTP_PORT',
    arg: 'http-port',
  },
  httpHost: {
    doc: 'address of the HTTP endpoint',
    format: String,
    default: '127.0.0.1',
    env: 'LOTTERY_HTTP_HOST',
    arg: 'http-host',
  },
  httpPlain: {
    doc:
      'serve the HTTP endpoint as plain HTTP, answering anyone, though the server has TLS (only on a loopback --http-host);\n' +
      '      otherwise, with TLS, it is HTTPS with the same CA, a client certificate required and only the monitor answered',
    format: 'on-off',
    default: false,
    shownDefault: 'off',
    isSwitch: true,
    env: 'LOTTERY_HTTP_PLAIN',
    arg: 'http-plain',
  },
  closeAt: {
    doc: 'sales close: at this time (ISO 8601 with offset; a time past closes at start) no more bets are taken and the draw runs over what is stored',
    format: 'instant',
    default: '',
    shownDefault: 'none: the draw waits for every agency',
    env: 'LOTTERY_CLOSE_AT',
    arg: 'close-at',
  },
  resultsCert: {
    doc: 'PEM certificate of the results-signing identity (lottery-pki writes results.crt); results.json is signed with it',
    format: String,
    default: '',
    shownDefault: 'none: results.json is written unsigned',
    env: 'LOTTERY_RESULTS_CERT',
    arg: 'results-cert',
  },
  resultsKey: {
    doc: 'PEM private key of the results-signing identity (results.key)',
    format: String,
    default: '',
    env: 'LOTTERY_RESULTS_KEY',
    arg: 'results-key',
  },
  ...tlsSettings('LOTTERY', 'server'),
  ...tlsCrlSetting,
  ...loggingSettings,
  logBatches: {
    doc: 'log a line per batch stored (apuesta_recibida); off keeps sorteo, the other events and every failure, for a log an operator keeps',
    format: 'on-off',
    default: true,
    shownDefault: 'on',
    env: 'LOG_BATCHES',
    arg: 'log-batches',
  },
  logRefusals: {
    doc: 'refused connections logged one by one each second (by the acceptor and by each session worker); past it they are counted on one line, so a flood cannot fill the disk',
    format: 'positive-integer',
    default: 5,
    env: 'LOG_REFUSALS',
    arg: 'log-refusals',
  },
  config: configFileSetting('LOTTERY_CONFIG'),
} satisfies Schema;

export function loadServerConfig(argv: string[], env: NodeJS.ProcessEnv): ServerConfig {
  const config = loadProgramConfig<ServerConfig>(serverProgram, serverSchema, argv, env);
  if ((config.resultsCert === '') !== (config.resultsKey === '')) {
    const missing = config.resultsCert === '' ? serverSchema.resultsCert : serverSchema.resultsKey;
    throw usageError(serverProgram, [`${flagAndVariable(missing)}: --results-cert and --results-key go together`]);
  }
  return config;
}

/** The results signer's files checked at start: exits 2 naming the flag and the file when they do not read or pair. */
export async function loadResultsSignerOrExit(config: ServerConfig): Promise<ResultsSigner | undefined> {
  if (config.resultsCert === '') return undefined;
  // Loaded only when asked for: node:crypto's keys and certificates are no part of a plain start.
  const { loadResultsSigner, ResultsSignerFileError } = await import('../audit/results.ts');
  try {
    return await loadResultsSigner(config.resultsCert, config.resultsKey);
  } catch (error) {
    if (!(error instanceof ResultsSignerFileError)) throw error;
    const setting = error.file === 'cert' ? serverSchema.resultsCert : serverSchema.resultsKey;
    throw usageError(serverProgram, [`${flagAndVariable(setting)}: ${error.message}`]);
  }
}

/** 127.0.0.0/8, ::1 and localhost: where plain HTTP is heard by this host only. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/**
 * The HTTP endpoint answers in plain HTTP (anyone who reaches it) when asked
 * to, or when the server has no TLS; that is refused unless it listens on
 * loopback, as its page and figures would be open to the network.
 */
export function checkHttpSettings(config: ServerConfig, tls: boolean): void {
  if (config.httpPort === null || isLoopbackHost(config.httpHost)) return;
  if (config.httpPlain) {
    throw usageError(serverProgram, [
      `${flagAndVariable(serverSchema.httpPlain)}: plain HTTP only on a loopback --http-host, not ${config.httpHost} (use the monitor certificate over HTTPS, or an SSH tunnel)`,
    ]);
  }
  if (!tls) {
    throw usageError(serverProgram, [
      `${flagAndVariable(serverSchema.httpHost)}: without TLS the HTTP endpoint is plain HTTP, so only on a loopback address, not ${config.httpHost}`,
    ]);
  }
}
