#!/usr/bin/env node
// lottery-pki: makes the certificates for mutual TLS (see src/pki). See --help.
import { prepareRuntime } from '../runtime.mjs';
import type { Schema } from '../config/program-config.ts';
prepareRuntime('lottery-pki');

const { PkiError } = await import('../errors.ts');
const { configFileSetting, configOrExit, loadProgramConfig } = await import('../config/program-config.ts');
const { makePkiDirectory, revokeCertificates } = await import('../pki/pki-directory.ts');

const schema = {
  out: { doc: 'directory to write the certificates and keys to', format: String, default: '.data/pki', env: 'PKI_OUT', arg: 'out' },
  agencies: {
    doc: 'make agency-K certificates for K = 1..N (those already there are kept)',
    format: 'positive-integer',
    default: 5,
    env: 'PKI_AGENCIES',
    arg: 'agencies',
  },
  hosts: {
    doc: "comma-separated names and IP addresses the server is reached by (its certificate's subject alternative names)",
    format: String,
    default: 'localhost,127.0.0.1',
    env: 'PKI_HOSTS',
    arg: 'hosts',
  },
  days: {
    doc: 'days the server, agency and monitor certificates are valid (at most 36500)',
    format: 'certificate-days',
    default: 825,
    env: 'PKI_DAYS',
    arg: 'days',
  },
  caDays: { doc: 'days a new CA is valid (at most 36500)', format: 'certificate-days', default: 3650, env: 'PKI_CA_DAYS', arg: 'ca-days' },
  force: {
    doc: 'replace an existing CA, and so every certificate in the directory (on|off; a bare --force means on)',
    format: 'on-off',
    default: false,
    shownDefault: 'off',
    env: 'PKI_FORCE',
    arg: 'force',
    isSwitch: true,
  },
  revoke: {
    doc: 'comma-separated agency ids (or "monitor") to add to ca.crl instead of making certificates; give the server --tls-crl <out>/ca.crl',
    format: String,
    default: '',
    env: 'PKI_REVOKE',
    arg: 'revoke',
  },
  config: configFileSetting('PKI_CONFIG'),
} satisfies Schema;

const program = {
  name: 'lottery-pki',
  usage: 'lottery-pki [--out DIR] [--agencies N] [--hosts h1,h2] [--force] [--revoke K,...]',
  summary:
    "Makes a CA of the lottery's own and, signed by it, the server's certificate, one per agency (agency-K)\n" +
    'and one for the monitor (may only PING), with ECDSA P-256 keys written 0600. An existing CA is kept\n' +
    '(and only missing certificates are made) unless --force is given.',
};

type PkiConfig = { out: string; agencies: number; hosts: string; days: number; caDays: number; force: boolean; revoke: string };
const config = configOrExit(() => loadProgramConfig<PkiConfig>(program, schema, process.argv.slice(2), process.env));
const list = (text: string) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

try {
  if (config.revoke !== '') {
    const names = list(config.revoke).map((item) => (/^\d+$/.test(item) ? `agency-${Number(item)}` : item));
    const { file } = await revokeCertificates(config.out, names);
    console.log(`lottery-pki: revoked ${names.join(', ')} in ${file}; servers read it with --tls-crl ${file} when they start`);
  } else {
    const hosts = list(config.hosts);
    if (hosts.length === 0) throw new PkiError('--hosts names no host');
    const outcome = await makePkiDirectory({
      dir: config.out,
      agencies: config.agencies,
      hosts,
      days: config.days,
      caDays: config.caDays,
      force: config.force,
    });
    if (outcome.removed.length > 0) console.log(`lottery-pki: --force: removed ${outcome.removed.join(' ')}`);
    if (outcome.made.length > 0) console.log(`lottery-pki: made ${outcome.made.join(' ')} in ${config.out}`);
    if (outcome.kept.length > 0)
      console.log(
        `lottery-pki: kept ${outcome.kept.join(' ')} (already there${outcome.newCa ? '' : '; --force replaces the CA and all of them'})`,
      );
    if (outcome.made.includes('server.crt')) console.log(`lottery-pki: server certificate names: ${hosts.join(', ')}`);
    else console.log('lottery-pki: server.crt was kept with the names it has: remove server.crt to reissue it for other --hosts');
  }
} catch (error) {
  process.stderr.write(`lottery-pki: ${(error as Error).message}\n`);
  process.exit(1);
}
