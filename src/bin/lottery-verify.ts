#!/usr/bin/env node
// lottery-verify: checks a data dir, or a lottery in a --store database,
// without changing it (safe while servers run): the journal, the hash chain, bets.csv, every FINISH, the close, the
// draw and results.json, and with --tls-ca results.json's signature. Exit 0
// when everything holds, 1 naming the first place that differs, 2 on usage
// errors. See --help.
import { onStopSignal, prepareRuntime } from '../runtime.mjs';
import type { Schema } from '../config/program-config.ts';
prepareRuntime('lottery-verify');
onStopSignal((signal) => {
  process.stderr.write(`lottery-verify: stopped by ${signal} before the check ended\n`);
  process.exit(1);
});

const { readFileSync } = await import('node:fs');
const { configOrExit, flagAndVariable, loadProgramConfig, storeSettings, usageError } = await import('../config/program-config.ts');
const { dataDirReader, formatReport, verifyStoredLottery } = await import('../audit/verify.ts');
const { postgresLotteryReader } = await import('../storage/postgres/stored-lottery-reader.ts');

const schema = {
  ...storeSettings('the PostgreSQL URL the servers were given as --store: checks a lottery stored there instead of a data dir'),
  dataDir: {
    doc: 'the data dir to check (bets.csv, bets.journal, results.json)',
    format: String,
    default: '',
    env: 'LOTTERY_DATA_DIR',
    arg: 'data-dir',
  },
  tlsCa: {
    doc: "PEM file of the lottery's CA: checks results.json's signature and that its certificate chains to this CA",
    format: String,
    default: '',
    env: 'LOTTERY_TLS_CA',
    arg: 'tls-ca',
  },
  json: { doc: 'print the report as JSON', format: 'on-off', default: false, env: 'LOTTERY_VERIFY_JSON', arg: 'json', isSwitch: true },
} satisfies Schema;

const program = {
  name: 'lottery-verify',
  usage: 'lottery-verify (--data-dir DIR | --store URL [--lottery NAME]) [--tls-ca ca.crt] [--json]',
  summary:
    'Checks a lottery data dir, or a lottery in a PostgreSQL --store, from the stored data alone, reading only: every record,\n' +
    'the hash chain, the bets,\n' +
    "each agency's count and upload digest, the close, the draw and results.json (and, with --tls-ca, its signature).\n" +
    'Exit 0 when everything holds, 1 naming the first place that differs, 2 on usage errors.',
};

type VerifyConfig = { store: string; lottery: string; dataDir: string; tlsCa: string; json: boolean };
const config = configOrExit(() => {
  const loaded = loadProgramConfig<VerifyConfig>(program, schema, process.argv.slice(2), process.env);
  if ((loaded.dataDir === '') === (loaded.store === ''))
    throw usageError(program, [
      `${flagAndVariable(schema.dataDir)} or ${flagAndVariable(schema.store)}: give exactly one, the data dir or the database to check`,
    ]);
  return loaded;
});
const ca = configOrExit(() => {
  if (config.tlsCa === '') return undefined;
  try {
    return readFileSync(config.tlsCa, 'utf8');
  } catch (error) {
    throw usageError(program, [
      `${flagAndVariable(schema.tlsCa)}: cannot read ${config.tlsCa}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    ]);
  }
});
const database = config.store === '' ? undefined : postgresLotteryReader(config.store, config.lottery);
const report = await verifyStoredLottery(database ?? dataDirReader(config.dataDir), ca);
await database?.close();
process.stdout.write(config.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
process.exit(report.ok ? 0 : 1);
