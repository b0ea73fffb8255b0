#!/usr/bin/env node
// lottery-compose: writes the Compose file for a server and N agencies. See --help.
import { onStopSignal, prepareRuntime } from '../runtime.mjs';
import type { Schema } from '../config/program-config.ts';
prepareRuntime('lottery-compose');
// The file is written in synchronous calls under a temporary name and then
// renamed, so a signal can only come before or after: nothing half-written.
onStopSignal((signal) => {
  process.stderr.write(`lottery-compose: stopped by ${signal}; nothing written\n`);
  process.exit(1);
});

const { renameSync, rmSync, writeFileSync } = await import('node:fs');
const { dirname, relative, resolve, sep } = await import('node:path');
const { fileURLToPath } = await import('node:url');
const { configFileSetting, configOrExit, loadProgramConfig } = await import('../config/program-config.ts');
const { composeYaml } = await import('../compose/compose-file.ts');

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

const schema = {
  agencies: {
    doc: 'number of agencies (services agency1..agencyN; required)',
    format: 'positive-integer',
    default: null,
    shownDefault: '(required)',
    env: 'LOTTERY_COMPOSE_AGENCIES',
    arg: 'agencies',
  },
  output: {
    doc: 'file to write; its paths are relative to its directory, as Compose reads them',
    format: String,
    default: '',
    shownDefault: 'compose/agencies-<N>.yaml in the project (compose/dev.yaml is kept as committed)',
    env: 'LOTTERY_COMPOSE_OUTPUT',
    arg: 'output',
  },
  scale: {
    doc: 'past one machine: postgres:15, two front-ends on it (--store) and every agency given both',
    format: 'on-off',
    default: false,
    shownDefault: 'off',
    env: 'LOTTERY_COMPOSE_SCALE',
    arg: 'scale',
  },
  config: configFileSetting('LOTTERY_COMPOSE_CONFIG'),
} satisfies Schema;

const program = {
  name: 'lottery-compose',
  usage: 'lottery-compose --agencies N [--scale on] [--output FILE]',
  summary:
    'Writes a Compose file with the lottery server and agencies 1..N over mutual TLS, all built from compose/Dockerfile.\n' +
    'Its setup service gives each agency .data/agency-K.csv and each service the certificates in .data/pki, or\n' +
    'makes sample files and certificates where there are none. The file is generated: change this program, not it.',
};

const config = configOrExit(() =>
  loadProgramConfig<{ agencies: number; output: string; scale: boolean }>(program, schema, process.argv.slice(2), process.env),
);
// Never compose/dev.yaml unless asked: it is tracked, and a try with another
// N must not leave the checkout changed.
const defaultName = config.scale ? 'scale.yaml' : `agencies-${config.agencies}.yaml`;
const output = config.output === '' ? resolve(projectRoot, 'compose', defaultName) : resolve(config.output);
const projectDir = relative(dirname(output), projectRoot).split(sep).join('/') || '.';

try {
  const partial = `${output}.${process.pid}.partial`;
  try {
    writeFileSync(partial, composeYaml({ agencies: config.agencies, projectDir, scale: config.scale }));
    renameSync(partial, output);
  } finally {
    rmSync(partial, { force: true });
  }
} catch (error) {
  process.stderr.write(`lottery-compose: cannot write ${output}: ${(error as Error).message}\n`);
  process.exit(1);
}
process.stdout.write(
  `lottery-compose: wrote ${relative(process.cwd(), output) || output} (server and ${config.agencies === 1 ? '1 agency' : `${config.agencies} agencies`})\n`,
);
