#!/usr/bin/env node
// lottery-server: the central lottery server. See --help.
import { onStopSignal, prepareRuntime } from '../runtime.mjs';
prepareRuntime('lottery-server');

const { configOrExit } = await import('../config/program-config.ts');
const { loadServerConfig } = await import('../config/server-config.ts');
const { createLogger, logConfig, logEvent } = await import('../log/logger.ts');
const { Supervisor } = await import('../actors/supervisor.ts');

const config = configOrExit(() => loadServerConfig(process.argv.slice(2), process.env));
const log = createLogger({ level: config.logLevel, format: config.logFormat });
logConfig(log, config, config.fsync ? {} : { warning: 'fsync off: acknowledged bets may be lost on a crash' });

// prepareRuntime caught the signals first of all; this acts on them. The
// server says it listens before start() returns, and a SIGTERM sent on that
// word must already be handled. A signal during start-up is kept and acted
// on once the server is up.
let supervisor: Awaited<ReturnType<typeof Supervisor.start>> | undefined;
let pendingSignal: NodeJS.Signals | undefined;
const stop = (signal: NodeJS.Signals, running: NonNullable<typeof supervisor>) => void running.stop(signal).then(() => process.exit(0));
onStopSignal((signal, count) => {
  if (count > 1) {
    logEvent(log, 'warn', 'shutdown', 'fail', { reason: `second ${signal} during shutdown: exiting at once` });
    process.exit(130);
  }
  if (supervisor === undefined) pendingSignal = signal;
  else stop(signal, supervisor);
});

try {
  supervisor = await Supervisor.start(config, log);
} catch (error) {
  logEvent(log, 'error', 'start', 'fail', { error: (error as Error).message });
  process.exit(1);
}
if (pendingSignal !== undefined) stop(pendingSignal, supervisor);
