#!/usr/bin/env node
// lottery-server: the central lottery server. See --help.
import { onStopSignal, prepareRuntime } from '../runtime.mjs';
prepareRuntime('lottery-server');

const { configOrExit } = await import('../config/program-config.ts');
const { checkHttpSettings, loadResultsSignerOrExit, loadServerConfig, serverProgram, serverSchema } =
  await import('../config/server-config.ts');
const config = configOrExit(() => loadServerConfig(process.argv.slice(2), process.env));

// Listen first, before the logger, TLS and the actors load: an agency
// started beside the server connects at once, and is held until the server
// serves (see Supervisor). A failure (the port taken) is said by
// Supervisor.start, after the config line.
const { listenEarly } = await import('../transport/early-listener.ts');
const listening = await listenEarly(config.host, config.port).catch((error: unknown) => error as Error);

const { loadServerTls } = await import('../config/tls-settings.ts');
const { certificateNames, certificateNamesHost } = await import('../config/tls-checks.ts');
const { createLogger, logConfig, logEvent } = await import('../log/logger.ts');
const { Supervisor } = await import('../actors/supervisor.ts');
const { maskedStoreUrl } = await import('../storage/postgres/store-url.ts');

const tls = configOrExit(() => loadServerTls(serverProgram, serverSchema, config));
configOrExit(() => checkHttpSettings(config, tls !== undefined));
const signer = await loadResultsSignerOrExit(config).catch((error: unknown) =>
  configOrExit(() => {
    throw error;
  }),
);
const log = createLogger({ level: config.logLevel, format: config.logFormat });
// The store URL's password never reaches a log line.
const { store, lottery, ...settings } = config;
const where = store === '' ? {} : { store: maskedStoreUrl(store), lottery };
logConfig(log, { ...settings, ...where }, config.fsync ? {} : { warning: 'fsync off: acknowledged bets may be lost on a crash' });
if (tls !== undefined && !certificateNamesHost(tls.cert, config.host)) {
  logEvent(log, 'warn', 'transport', 'success', {
    tls: 'on',
    warning: `the server's certificate ${config.tlsCert} does not name ${config.host}, the host it listens on (it names ${certificateNames(tls.cert)}): agencies that reach it by ${config.host} will refuse it; reissue it with lottery-pki --hosts`,
  });
}
if (tls === undefined) {
  // Started as asked, so not a failure; a warning all the same.
  logEvent(log, 'warn', 'transport', 'success', {
    tls: 'off',
    warning:
      'plaintext: agencies are not authenticated (any client can speak for any agency) and bets travel unencrypted; give --tls-ca, --tls-cert and --tls-key (see lottery-pki)',
  });
}

if (signer === undefined) {
  logEvent(log, 'warn', 'resultados', 'success', {
    firma: 'off',
    warning:
      'results.json will be written unsigned; give --results-cert and --results-key (lottery-pki writes results.crt and results.key)',
  });
}

// prepareRuntime caught the signals first of all; this acts on them. The
// server says it listens before start() returns, and a SIGTERM sent on that
// word must already be handled.
let supervisor: Awaited<ReturnType<typeof Supervisor.start>> | undefined;
/**
 * Ends the process as the signal's default action would (exit status 128 + n).
 * process.exit() is no way out here: Node waits on exit for its thread pool,
 * and a thread stuck in a file system call (a data dir on a hung mount)
 * would keep the process alive through every SIGTERM.
 */
const dieBy = (signal: NodeJS.Signals) => {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
};
onStopSignal((signal, count) => {
  if (count > 1) {
    logEvent(log, 'warn', 'shutdown', 'fail', { reason: `second ${signal} during shutdown: exiting at once` });
    return dieBy(signal);
  }
  if (supervisor === undefined) {
    // Nothing is acknowledged before the server listens, and recovery is
    // safe to cut at any instant (as a kill -9 would), so start-up is not
    // waited for: it may be stuck on the data dir.
    logEvent(log, 'warn', 'shutdown', 'fail', { reason: `${signal} during start-up: stopping at once` });
    return dieBy(signal);
  }
  void supervisor.stop(signal).then(() => process.exit(0));
});

try {
  supervisor = await Supervisor.start(config, log, tls, listening);
} catch {
  // Supervisor.start has said why (`start | fail`).
  process.exit(1);
}
void supervisor.failure.then(async (error) => {
  // The workers first, so that this line is the server's last.
  await supervisor!.halt();
  logEvent(log, 'error', 'shutdown', 'fail', {
    reason: `${error.message}: the server cannot go on; exiting so that it is restarted into recovery`,
  });
  process.exit(1);
});
