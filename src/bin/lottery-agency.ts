#!/usr/bin/env node
// lottery-agency: uploads one agency's bets and logs its winners. See --help.
import { onStopSignal, prepareRuntime } from '../runtime.mjs';
prepareRuntime('lottery-agency');

const { DataFileError } = await import('../errors.ts');
const { configOrExit } = await import('../config/program-config.ts');
const { agencyProgram, agencySchema, loadAgencyConfig } = await import('../config/agency-config.ts');
const { loadClientTls } = await import('../config/tls-settings.ts');
const { parseServerList } = await import('../config/formats.ts');
const { createLogger, logConfig, logEvent } = await import('../log/logger.ts');
const { Agency } = await import('../agency/agency.ts');
const { StatusLine } = await import('../agency/status-line.ts');
const { checkBetFile, describeCheck, uploadRefusal } = await import('../agency/file-check.ts');
const { checkDataFile } = await import('../agency/bet-source.ts');

const config = configOrExit(() => loadAgencyConfig(process.argv.slice(2), process.env));
if (config.check) {
  // Only the file: no server, no TLS. Exit 0 when the agency would upload it as it is.
  try {
    await checkDataFile(config.dataFile);
  } catch (error) {
    process.stderr.write(`lottery-agency: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const check = await checkBetFile(config.dataFile);
  process.stdout.write(`${describeCheck(config.dataFile, check).join('\n')}\n`);
  process.exit(uploadRefusal(config.dataFile, check, false) === undefined ? 0 : 2);
}
const tls = configOrExit(() => loadClientTls(agencyProgram, agencySchema, config));
// The progress line is for a person at a terminal, never for a pipe or a file.
const status = process.stderr.isTTY ? new StatusLine(process.stderr, `agency ${config.id}`) : undefined;
// JSON lines name the agency, for a pipeline that gathers every agency's; the text lines keep the course's format.
const log = createLogger({ level: config.logLevel, format: config.logFormat, around: status, jsonFields: { agencia: config.id } });
logConfig(log, config);

const [{ host, port }, ...others] = parseServerList(config.server);
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
/** Rows the server has acknowledged, as far as this run knows: what a stop reports. */
let acknowledged = 0;
let finished = false;
let fileRows: number | undefined;
/** The rows as the check read them, for the upload to send from (a small file's: see checkBetFile). */
let checkedRows: Awaited<ReturnType<typeof checkBetFile>>['keptRows'];
/** Or, for a plain file, the upload's batches made from its bytes. */
let plainBatches: NonNullable<Awaited<ReturnType<typeof checkBetFile>>['plain']>['batches'] | undefined;
// The whole file is read and checked before the agency connects: a file the
// server would refuse row by row is not uploaded, and never finished.
try {
  await checkDataFile(config.dataFile);
  const check = await checkBetFile(config.dataFile, {
    keepRows: true,
    batchesFor: { agency: config.id, maxAmount: config.batchMaxAmount },
  });
  fileRows = check.rows;
  checkedRows = check.keptRows;
  plainBatches = check.plain?.batches;
  if (status !== undefined) status.rows = check.rows;
  const refusal = uploadRefusal(config.dataFile, check, config.skipInvalid);
  if (refusal !== undefined) throw new DataFileError(refusal);
  if (check.invalid > 0) {
    logEvent(log, 'warn', 'leer_archivo', 'fail', {
      filas: check.rows,
      validas: check.valid,
      invalidas: check.invalid,
      motivo: 'uploading anyway (--skip-invalid): the server refuses the invalid rows',
    });
  }
} catch (error) {
  status?.close();
  if (!(error instanceof DataFileError)) throw error;
  logEvent(log, 'error', 'agencia', 'fail', { error: error.message });
  process.exit(2);
}
agency = new Agency({
  id: config.id,
  host,
  port,
  others,
  dataFile: config.dataFile,
  ...(checkedRows === undefined ? {} : { rows: checkedRows }),
  ...(plainBatches === undefined ? {} : { batches: plainBatches }),
  batchMaxAmount: config.batchMaxAmount,
  winnersTimeoutMs: config.winnersTimeout * 1000,
  replyTimeoutMs: config.replyTimeout * 1000,
  retryTimeoutMs: config.retryTimeout * 1000,
  tls,
  log,
  signal: stopping.signal,
  progress: status !== undefined,
  onStatus: (now) => {
    if (now.phase === 'uploading') acknowledged = now.acknowledged;
    if (now.phase === 'finished') {
      acknowledged = now.total;
      finished = true;
    }
    status?.update(now);
  },
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
    // How far it got, and that nothing is lost: the server keeps what it acknowledged and a rerun goes on from there.
    logEvent(log, 'info', 'subida', 'in_progress', {
      filas_confirmadas: acknowledged,
      filas: fileRows ?? '?',
      reanudar: finished
        ? 'finished: the server holds every row; run the agency again with the same file to ask for the winners'
        : 'stopped before finishing: run the agency again with the same file to resume from the rows the server holds',
    });
    logEvent(log, 'info', 'shutdown', 'success');
    process.exit(0);
  }
  logEvent(log, 'error', 'agencia', 'fail', { error: (error as Error).message });
  // A bets file that cannot be read is a setting to fix, like a bad flag.
  process.exitCode = error instanceof DataFileError ? 2 : 1;
}
