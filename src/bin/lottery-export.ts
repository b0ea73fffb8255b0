#!/usr/bin/env node
// lottery-export: writes a lottery's stored bets in the course's bets.csv
// columns, from a data dir or from a --store database. Only reads. See --help.
import { prepareRuntime } from '../runtime.mjs';
import type { Schema } from '../config/program-config.ts';
prepareRuntime('lottery-export');

const { createWriteStream } = await import('node:fs');
const { once } = await import('node:events');
const { configOrExit, loadProgramConfig, storeSettings, usageError } = await import('../config/program-config.ts');
const { EXPORT_HEADER, rowsFromDataDir, rowsFromPostgres } = await import('../storage/export-bets.ts');
const { maskedStoreUrl } = await import('../storage/postgres/store-url.ts');

const program = {
  name: 'lottery-export',
  usage: 'lottery-export (--store URL [--lottery NAME] | --data-dir DIR) [--out FILE]',
  summary:
    "Writes a lottery's stored bets as CSV with the columns agency,first_name,last_name,document,birthdate,number,\n" +
    'a header line first, ordered by agency then offset. Only reads: safe beside running servers.',
};

const schema = {
  ...storeSettings('the PostgreSQL URL the servers were given as --store'),
  dataDir: { doc: 'a data dir to read instead of a database', format: String, default: '', env: 'LOTTERY_DATA_DIR', arg: 'data-dir' },
  out: {
    doc: 'file to write; standard output without it',
    format: String,
    default: '',
    shownDefault: 'standard output',
    env: 'LOTTERY_EXPORT_OUT',
    arg: 'out',
  },
} satisfies Schema;

type ExportConfig = { store: string; lottery: string; dataDir: string; out: string };
const config = configOrExit(() => {
  const loaded = loadProgramConfig<ExportConfig>(program, schema, process.argv.slice(2), process.env);
  if ((loaded.store === '') === (loaded.dataDir === '')) throw usageError(program, ['give exactly one of --store and --data-dir']);
  return loaded;
});

const source = config.store === '' ? `data dir ${config.dataDir}` : `lottery ${config.lottery} of ${maskedStoreUrl(config.store)}`;
const output = config.out === '' ? process.stdout : createWriteStream(config.out);
try {
  const rows = config.store === '' ? rowsFromDataDir(config.dataDir) : rowsFromPostgres(config.store, config.lottery);
  // The first rows are read before anything is written: a source that cannot be read leaves --out empty.
  const first = await rows.next();
  output.write(EXPORT_HEADER);
  if (!first.done) output.write(first.value);
  for await (const chunk of rows) if (!output.write(chunk)) await once(output, 'drain');
  if (output !== process.stdout) {
    output.end();
    await once(output, 'finish');
  }
} catch (error) {
  process.stderr.write(`lottery-export: cannot read the ${source}: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
