#!/usr/bin/env node
// lottery-pki: makes the certificates for mutual TLS (see src/pki). See --help.
import { onStopSignal, prepareRuntime } from '../runtime.mjs';
import type { Schema } from '../config/program-config.ts';
prepareRuntime('lottery-pki');

const { PkiError } = await import('../errors.ts');
const { configFileSetting, configOrExit, loadProgramConfig, usageError } = await import('../config/program-config.ts');
const { isHostName, makePkiDirectory, revokeCertificates, stopWriting } = await import('../pki/pki-directory.ts');
const { namesInCertificate, revokedIn } = await import('../pki/certificates.ts');
const { existsSync, readFileSync, statSync } = await import('node:fs');
const { join } = await import('node:path');

// Every file is written whole under a temporary name and then renamed, so a
// stop at any instant leaves whole files and, once the writes under way have
// settled and their temporary names are removed, nothing else: the program
// stops within a write's time (milliseconds), and in any case within a second.
onStopSignal((signal) => {
  const exit = () => {
    process.stderr.write(`lottery-pki: stopped by ${signal}; the files made so far are whole, run again to make the rest\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  setTimeout(exit, 900).unref();
  void stopWriting().finally(exit);
});

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
    "Makes a CA of the lottery's own and, signed by it, the server's certificate, one per agency (agency-K),\n" +
    'one for the monitor (may only PING and close sales) and results.crt, which signs results.json at the draw,\n' +
    'with ECDSA P-256 keys written 0600. An existing CA is kept\n' +
    '(and only missing certificates are made) unless --force is given.',
};

type PkiConfig = { out: string; agencies: number; hosts: string; days: number; caDays: number; force: boolean; revoke: string };
const config = configOrExit(() => loadProgramConfig<PkiConfig>(program, schema, process.argv.slice(2), process.env));
const list = (text: string) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

// Bad values are usage errors (exit 2), as for every other flag.
const revoking = list(config.revoke);
const badRevoke = revoking.find((item) => !/^\d+$/.test(item) && item !== 'monitor');
const hosts = list(config.hosts);
configOrExit(() => {
  if (config.revoke !== '' && revoking.length === 0) throw usageError(program, ['--revoke (PKI_REVOKE): names no certificate']);
  if (badRevoke === 'ca')
    throw usageError(program, ['--revoke (PKI_REVOKE): the CA cannot be revoked: make a new one with --force, which reissues everything']);
  if (badRevoke !== undefined)
    throw usageError(program, [`--revoke (PKI_REVOKE): "${badRevoke}" is neither an agency id (1, 2, …) nor "monitor"`]);
  if (hosts.length === 0)
    throw usageError(program, ['--hosts (PKI_HOSTS): names no host; give the names and addresses agencies reach the server by']);
  const badHost = hosts.find((host) => !isHostName(host));
  if (badHost !== undefined)
    throw usageError(program, [
      `--hosts (PKI_HOSTS): ${JSON.stringify(badHost)} is neither an IP address nor a host name (letters, digits and hyphens, in dot-separated labels)`,
    ]);
  if (existsSync(config.out) && !statSync(config.out).isDirectory())
    throw usageError(program, [`--out (PKI_OUT): ${config.out} exists and is not a directory`]);
});
/** Whether --hosts was given, rather than left at its default. */
const hostsGiven = process.argv.some((arg) => arg === '--hosts' || arg.startsWith('--hosts=')) || process.env.PKI_HOSTS !== undefined;

try {
  if (config.revoke !== '') {
    const names = revoking.map((item) => (/^\d+$/.test(item) ? `agency-${Number(item)}` : item));
    const { file } = await revokeCertificates(config.out, names);
    console.log(`lottery-pki: revoked ${names.join(', ')} in ${file}; servers read it with --tls-crl ${file} when they start`);
  } else {
    // --force without --hosts reissues the server's certificate for the names it had, not for the default ones.
    const oldServer = join(config.out, 'server.crt');
    const oldNames = config.force && !hostsGiven && existsSync(oldServer) ? namesInCertificate(readFileSync(oldServer, 'utf8')) : [];
    const serverHosts = oldNames.length > 0 ? oldNames : hosts;
    const outcome = await makePkiDirectory({
      dir: config.out,
      agencies: config.agencies,
      hosts: serverHosts,
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
    if (outcome.made.includes('server.crt'))
      console.log(
        `lottery-pki: server certificate names: ${serverHosts.join(', ')}${oldNames.length > 0 ? ' (those of the server.crt it replaces; --hosts gives others)' : ''}`,
      );
    else console.log('lottery-pki: server.crt was kept with the names it has: remove server.crt to reissue it for other --hosts');
    // A certificate kept may be one revoked: say so, and how to issue a new one.
    const crl = join(config.out, 'ca.crl');
    if (existsSync(crl)) {
      const revoked = revokedIn(
        readFileSync(crl, 'utf8'),
        outcome.kept.filter((name) => name.endsWith('.crt')).map((name) => [name, readFileSync(join(config.out, name), 'utf8')] as const),
      );
      for (const name of revoked) {
        const base = name.replace(/\.crt$/, '');
        console.log(
          `lottery-pki: ${name} is revoked in ca.crl: remove ${base}.crt and ${base}.key and run again to issue a new one (the CRL keeps refusing the old one)`,
        );
      }
    }
  }
} catch (error) {
  if (!(error instanceof PkiError)) throw error;
  process.stderr.write(`lottery-pki: ${error.message}\n`);
  process.exit(1);
}
