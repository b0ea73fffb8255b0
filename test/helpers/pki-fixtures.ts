// Certificates for the tests of mutual TLS: a PKI directory made as
// lottery-pki makes it (by the same makePkiDirectory, in process: the
// program itself is tested in pki.test.ts), the flags that point a program
// at it, and certificates lottery-pki would never make (expired, not yet
// valid), signed by that directory's CA.
import type { ExecutionContext } from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadResultsSigner, type ResultsSigner } from '../../src/audit/results.ts';
import {
  certificatePem,
  createCa,
  issueCertificate,
  loadCa,
  privateKeyPem,
  validityFor,
  type Validity,
} from '../../src/pki/certificates.ts';
import { RESULTS_COMMON_NAME } from '../../src/pki/identity.ts';
import { makePkiDirectory } from '../../src/pki/pki-directory.ts';
import { tempDir } from './lottery-fixtures.ts';

export { clientTlsArgs, clientTlsFilesIn, serverTlsArgs, serverTlsFilesIn } from '../../src/harness/tls-args.ts';

/** A CA and the results identity it certifies, for signing and checking results.json, and another CA that certifies nothing here. */
export type ResultsPki = { dir: string; ca: string; other: string; signer: ResultsSigner };

/** Writes ca.crt, results.crt and results.key into `dir` (which must exist) and loads the signer. */
export async function makeResultsPki(dir: string): Promise<ResultsPki> {
  const validity = validityFor(30);
  const ca = await createCa('Loteria Nacional CA', validity);
  const results = await issueCertificate(ca, { commonName: RESULTS_COMMON_NAME, usage: 'signing', validity });
  await writeFile(join(dir, 'results.crt'), certificatePem(results));
  await writeFile(join(dir, 'results.key'), await privateKeyPem(results));
  await writeFile(join(dir, 'ca.crt'), certificatePem(ca));
  const other = await createCa('Loteria Nacional CA', validity);
  return {
    dir,
    ca: certificatePem(ca),
    other: certificatePem(other),
    signer: await loadResultsSigner(join(dir, 'results.crt'), join(dir, 'results.key')),
  };
}

/** What lottery-pki is asked for: --agencies and --hosts; the rest as its defaults. */
export type PkiAsked = { agencies?: number; hosts?: readonly string[] };

/** Makes a PKI directory in a fresh directory, as lottery-pki would. */
export async function makePki(t: ExecutionContext, asked: PkiAsked = {}): Promise<string> {
  return makePkiIn(join(await tempDir(t), 'pki'), asked);
}

/** Makes a PKI directory in `dir`, as lottery-pki --out `dir` would, for a PKI that outlives one test. */
export async function makePkiIn(dir: string, { agencies = 5, hosts = ['localhost', '127.0.0.1'] }: PkiAsked = {}): Promise<string> {
  // lottery-pki's defaults: 825 days for the certificates, 3650 for a new CA.
  await makePkiDirectory({ dir, agencies, hosts, days: 825, caDays: 3650, force: false });
  return dir;
}

/** Writes `name`.crt/.key into `dir`: a client certificate for `commonName` signed by `dir`'s CA, with the validity given. */
export async function issueOutOfDate(dir: string, name: string, commonName: string, validity: Validity): Promise<void> {
  const ca = await loadCa(await readFile(join(dir, 'ca.crt'), 'utf8'), await readFile(join(dir, 'ca.key'), 'utf8'));
  const issued = await issueCertificate(ca, { commonName, usage: 'client', validity });
  await writeFile(join(dir, `${name}.crt`), certificatePem(issued));
  await writeFile(join(dir, `${name}.key`), await privateKeyPem(issued), { mode: 0o600 });
}
