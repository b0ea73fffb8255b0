#!/usr/bin/env node
// lottery-verify: checks a data dir without changing it (safe while a server
// runs): the journal, the hash chain, bets.csv, every FINISH, the close, the
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
const { configOrExit, flagAndVariable, loadProgramConfig, usageError } = await import('../config/program-config.ts');
const { dataDirReader, formatReport, verifyStoredLottery } = await import('../audit/verify.ts');

const schema = {
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
  usage: 'lottery-verify --data-dir DIR [--tls-ca ca.crt] [--json]',
  summary:
    'Checks a lottery data dir from the stored data alone, reading only: every journal record, the hash chain, bets.csv,\n' +
    "each agency's count and upload digest, the close, the draw and results.json (and, with --tls-ca, its signature).\n" +
    'Exit 0 when everything holds, 1 naming the first place that differs, 2 on usage errors.',
};

type VerifyConfig = { dataDir: string; tlsCa: string; json: boolean };
const config = configOrExit(() => {
  const loaded = loadProgramConfig<VerifyConfig>(program, schema, process.argv.slice(2), process.env);
  if (loaded.dataDir === '') throw usageError(program, [`${flagAndVariable(schema.dataDir)}: the data dir to check is required`]);
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
const report = await verifyStoredLottery(dataDirReader(config.dataDir), ca);
process.stdout.write(config.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
process.exit(report.ok ? 0 : 1);
