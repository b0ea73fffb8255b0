// A directory of certificates as lottery-pki keeps it:
//   ca.crt ca.key                 the lottery's own CA
//   server.crt server.key         the server, named by every host it answers on
//   agency-K.crt agency-K.key     agency K's identity, K = 1..N
//   monitor.crt monitor.key       an identity that may only PING (healthchecks) and close sales
//   results.crt results.key       signs results.json at the draw (lottery-server --results-cert/--results-key)
//   ca.crl                        the certificates revoked so far (once any is)
// Private keys are written 0600 and the directory 0700. A CA is never
// replaced unless asked (--force): every certificate it signed would stop
// working. Run again against an existing CA, only what is missing is made.

import { isIP } from 'node:net';
import { chmod, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  certificatePem,
  createCa,
  crlPem,
  createCrl,
  describeCertificate,
  issueCertificate,
  loadCa,
  privateKeyPem,
  randomSerial,
  serialsInCrl,
  validityFor,
  type Issued,
} from './certificates.ts';
import { agencyCommonName, CA_COMMON_NAME, MONITOR_COMMON_NAME, RESULTS_COMMON_NAME, SERVER_COMMON_NAME } from './identity.ts';
import { PkiError } from '../errors.ts';

export type PkiRequest = {
  dir: string;
  agencies: number;
  hosts: readonly string[];
  /** Validity of the server's, agencies' and monitor's certificates. */
  days: number;
  /** Validity of a new CA. */
  caDays: number;
  /** Replace an existing CA and everything it signed. */
  force: boolean;
};

export type PkiOutcome = { made: string[]; kept: string[]; removed: string[]; newCa: boolean };

const KEY_MODE = 0o600;
const DIRECTORY_MODE = 0o700;

/** An IP address, or a DNS name a certificate's subject alternative name can hold (a leading `*.` for a wildcard). */
export function isHostName(host: string): boolean {
  if (isIP(host) !== 0) return true;
  const name = host.startsWith('*.') ? host.slice(2) : host;
  return name.length <= 253 && name.split('.').every((label) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(label));
}
const CERTIFICATE_MODE = 0o644;

/** Files being written, under their temporary names: removed if the program is stopped meanwhile. */
const partialFiles = new Set<string>();
/** The writes under way: a stop waits for them, since a write the thread pool has begun may create its file after any removal. */
const writesUnderWay = new Set<Promise<void>>();
let stopping = false;

/**
 * Stops writing and removes what a stop cut short. Every file is written
 * under a temporary name and renamed when whole, so only those names can be
 * partial; the files already renamed are whole and kept. No write starts
 * once this is called, and it resolves once the writes under way have
 * settled and their temporary names are gone.
 */
export async function stopWriting(): Promise<void> {
  stopping = true;
  await Promise.allSettled([...writesUnderWay]);
  for (const file of partialFiles) rmSync(file, { force: true });
  partialFiles.clear();
}

/** Writes `data` to `file` whole or not at all: a temporary name, then a rename. */
function writeWhole(file: string, data: string, mode: number): Promise<void> {
  // Stopping: nothing more is written, and the work that asked waits for the exit rather than fail.
  if (stopping) return new Promise(() => undefined);
  const partial = `${file}.${process.pid}.partial`;
  partialFiles.add(partial);
  const write = (async () => {
    try {
      await writeFile(partial, data, { mode });
      await chmod(partial, mode);
      await rename(partial, file);
    } finally {
      partialFiles.delete(partial);
      await rm(partial, { force: true });
    }
  })();
  writesUnderWay.add(write);
  void write.catch(() => undefined).finally(() => writesUnderWay.delete(write));
  return write;
}

/**
 * Makes `dir` and its missing parents, one level at a time. Node's own
 * recursive mkdir spins for ever under a path it cannot make (/proc/x);
 * this one stops at the first level it cannot make, saying why.
 */
export async function makeDirectory(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = resolve(dir); ; at = dirname(at)) {
    const found = await stat(at).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw new PkiError(`cannot use ${at}: ${error.code ?? error.message}`);
    });
    if (found !== undefined) {
      if (!found.isDirectory()) throw new PkiError(`${at} exists and is not a directory: --out names a directory to write the files to`);
      break;
    }
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const at of missing) {
    await mkdir(at, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw new PkiError(`cannot make the directory ${at}: ${error.code ?? error.message}`);
    });
  }
}

export async function makePkiDirectory(request: PkiRequest): Promise<PkiOutcome> {
  const { dir } = request;
  for (const host of request.hosts) {
    if (!isHostName(host)) {
      throw new PkiError(
        `--hosts: ${JSON.stringify(host)} is neither an IP address nor a host name (letters, digits and hyphens, in dot-separated labels)`,
      );
    }
  }
  await makeDirectory(dir);
  // mkdir's mode is for a directory it makes: one that was there (0755, say) is closed too, as it will hold ca.key.
  await chmod(dir, DIRECTORY_MODE);
  const outcome: PkiOutcome = { made: [], kept: [], removed: [], newCa: false };
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  let ca: Issued;
  if (existsSync(caCert) && !request.force) {
    if (!existsSync(caKey)) throw new PkiError(`${caCert} exists but ${caKey} does not: certificates cannot be added without the CA's key`);
    ca = await loadCa(await readFile(caCert, 'utf8'), await readFile(caKey, 'utf8'));
    outcome.kept.push('ca.crt', 'ca.key');
  } else {
    if (existsSync(caCert)) outcome.removed.push(...(await removeIssued(dir)));
    ca = await createCa(CA_COMMON_NAME, validityFor(request.caDays));
    await writeIssued(dir, 'ca', ca);
    outcome.made.push('ca.crt', 'ca.key');
    outcome.newCa = true;
  }

  const serials = new Set<string>([ca.certificate.serialNumber]);
  for (const name of await readdir(dir)) {
    if (name.endsWith('.crt')) serials.add(describeCertificate(await readFile(join(dir, name), 'utf8')).serialNumber);
  }
  const uniqueSerial = () => {
    let serial = randomSerial();
    while (serials.has(serial)) serial = randomSerial();
    serials.add(serial);
    return serial;
  };

  const wanted: Array<{ name: string; commonName: string; usage: 'server' | 'client' | 'signing'; hosts?: readonly string[] }> = [
    { name: 'server', commonName: SERVER_COMMON_NAME, usage: 'server', hosts: request.hosts },
    { name: 'monitor', commonName: MONITOR_COMMON_NAME, usage: 'client' },
    { name: 'results', commonName: RESULTS_COMMON_NAME, usage: 'signing' },
    ...Array.from({ length: request.agencies }, (_, i) => ({
      name: agencyCommonName(i + 1),
      commonName: agencyCommonName(i + 1),
      usage: 'client' as const,
    })),
  ];
  for (const { name, commonName, usage, hosts } of wanted) {
    if (!outcome.newCa && existsSync(join(dir, `${name}.crt`)) && existsSync(join(dir, `${name}.key`))) {
      outcome.kept.push(`${name}.crt`, `${name}.key`);
      continue;
    }
    const issued = await issueCertificate(ca, {
      commonName,
      usage,
      hosts,
      validity: validityFor(request.days),
      serialNumber: uniqueSerial(),
    });
    await writeIssued(dir, name, issued);
    outcome.made.push(`${name}.crt`, `${name}.key`);
  }
  return outcome;
}

/**
 * Adds the certificates of `names` (e.g. agency-3, monitor) to the CA's
 * revocation list, ca.crl, keeping those already on it. A server started with
 * --tls-crl pointing at that file refuses them at the handshake.
 */
export async function revokeCertificates(dir: string, names: readonly string[]): Promise<{ file: string; revoked: string[] }> {
  const ca = await loadCa(await readFile(join(dir, 'ca.crt'), 'utf8'), await readFile(join(dir, 'ca.key'), 'utf8')).catch(
    (error: Error) => {
      throw new PkiError(`cannot read the CA in ${dir}: ${error.message}`);
    },
  );
  // A CRL naming the CA itself makes OpenSSL refuse every client as revoked.
  if (names.includes('ca'))
    throw new PkiError('the CA cannot be revoked: make a new one with lottery-pki --force, which reissues everything');
  const crlFile = join(dir, 'ca.crl');
  const serials = new Set(existsSync(crlFile) ? serialsInCrl(await readFile(crlFile, 'utf8')) : []);
  for (const name of names) {
    const file = join(dir, `${name}.crt`);
    if (!existsSync(file)) throw new PkiError(`there is no ${file} to revoke`);
    serials.add(describeCertificate(await readFile(file, 'utf8')).serialNumber);
  }
  const crl = await createCrl(ca, [...serials]);
  // OpenSSL, and so Node's TLS, reads a CRL only under the label X509 CRL.
  await writeWhole(crlFile, `${crlPem(crl)}\n`, CERTIFICATE_MODE);
  return { file: crlFile, revoked: [...names] };
}

async function writeIssued(dir: string, name: string, issued: Issued): Promise<void> {
  // The key is written 0600 from its first byte. Key first: a certificate
  // without its key is never left, and a key alone is made again next run.
  await writeWhole(join(dir, `${name}.key`), await privateKeyPem(issued), KEY_MODE);
  await writeWhole(join(dir, `${name}.crt`), certificatePem(issued), CERTIFICATE_MODE);
}

/** What an old CA signed, before a new CA replaces it: none of it would verify any more. */
async function removeIssued(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir)) {
    if (/^(ca|server|monitor|results|agency-\d+)\.(crt|key)$|^ca\.crl$/.test(name)) {
      await rm(join(dir, name));
      removed.push(name);
    }
  }
  return removed;
}
