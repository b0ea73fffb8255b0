#!/usr/bin/env node
// lottery-server: the central lottery server. See --help.
import { enableCompileCache, requireRuntime } from '../runtime.ts';
requireRuntime('lottery-server');
await enableCompileCache();

const { configOrExit } = await import('../config/program-config.ts');
const { loadServerConfig } = await import('../config/server-config.ts');
const { createLogger, logConfig, logEvent } = await import('../log/logger.ts');
const { Supervisor } = await import('../actors/supervisor.ts');

const config = configOrExit(() => loadServerConfig(process.argv.slice(2), process.env));
const log = createLogger({ level: config.logLevel, format: config.logFormat });
logConfig(log, config, config.fsync ? {} : { warning: 'fsync off: acknowledged bets may be lost on a crash' });

let supervisor: Awaited<ReturnType<typeof Supervisor.start>>;
try {
  supervisor = await Supervisor.start(config, log);
} catch (error) {
  logEvent(log, 'error', 'start', 'fail', { error: (error as Error).message });
  process.exit(1);
}

let signals = 0;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (++signals > 1) {
      logEvent(log, 'warn', 'shutdown', 'fail', { reason: `second ${signal} during shutdown: exiting at once` });
      process.exit(130);
    }
    void supervisor.stop(signal).then(() => process.exit(0));
  });
}
