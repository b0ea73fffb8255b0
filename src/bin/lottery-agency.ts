#!/usr/bin/env node
// lottery-agency: uploads one agency's bets and logs its winners. See --help.
import { onStopSignal, prepareRuntime } from '../runtime.mjs';
prepareRuntime('lottery-agency');

const { DataFileError } = await import('../errors.ts');
const { configOrExit } = await import('../config/program-config.ts');
const { agencyProgram, agencySchema, loadAgencyConfig } = await import('../config/agency-config.ts');
const { loadClientTls } = await import('../config/tls-settings.ts');
const { parseHostPort } = await import('../config/formats.ts');
const { createLogger, logConfig, logEvent } = await import('../log/logger.ts');
const { Agency } = await import('../agency/agency.ts');
const { StatusLine, countRows } = await import('../agency/status-line.ts');

const config = configOrExit(() => loadAgencyConfig(process.argv.slice(2), process.env));
const tls = configOrExit(() => loadClientTls(agencyProgram, agencySchema, config));
// The progress line is for a person at a terminal, never for a pipe or a file.
const status = process.stderr.isTTY ? new StatusLine(process.stderr, `agency ${config.id}`) : undefined;
// JSON lines name the agency, for a pipeline that gathers every agency's; the text lines keep the course's format.
const log = createLogger({ level: config.logLevel, format: config.logFormat, around: status, jsonFields: { agencia: config.id } });
logConfig(log, config);

const { host, port } = parseHostPort(config.server)!;
const stopping = new AbortController();
let agency: InstanceType<typeof Agency> | undefined;
// A signal that came while the program loaded is acted on now: run() sees
// the abort at once and the agency shuts down as it would later on.
onStopSignal((signal, count) => {
  if (count > 1) {
    logEvent(log, 'warn', 'shutdown', 'fail', { reason: `second ${signal} during shutdown: exiting at once` });
    process.exit(130);
  }
  logEvent(log, 'info', 'shutdown', 'in_progress', { reason: signal });
  stopping.abort(new Error(signal));
  agency?.close();
});
if (status !== undefined) {
  void countRows(config.dataFile).then(
    (rows) => (status.rows = rows),
    () => undefined,
  );
}
agency = new Agency({
  id: config.id,
  host,
  port,
  dataFile: config.dataFile,
  batchMaxAmount: config.batchMaxAmount,
  winnersTimeoutMs: config.winnersTimeout * 1000,
  retryTimeoutMs: config.retryTimeout * 1000,
  tls,
  log,
  signal: stopping.signal,
  onStatus: status && ((now) => status.update(now)),
});

try {
  const { winners } = await agency.run();
  status?.close();
  logEvent(log, 'info', 'ganadores', 'success', {
    agencia: config.id,
    cant_ganadores: winners.length,
    ...(winners.length > 0 ? { dnis: winners } : {}),
  });
  process.exitCode = 0;
} catch (error) {
  status?.close();
  if (stopping.signal.aborted) {
    agency.close();
    logEvent(log, 'info', 'close_connection', 'success');
    logEvent(log, 'info', 'close_file', 'success', { archivo: config.dataFile });
    logEvent(log, 'info', 'shutdown', 'success');
    process.exit(0);
  }
  logEvent(log, 'error', 'agencia', 'fail', { error: (error as Error).message });
  // A bets file that cannot be read is a setting to fix, like a bad flag.
  process.exitCode = error instanceof DataFileError ? 2 : 1;
}
