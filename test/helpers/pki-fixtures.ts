// Certificates for the tests of mutual TLS: a PKI directory made by the real
// lottery-pki program, the flags that point a program at it, and
// certificates lottery-pki would never make (expired, not yet valid),
// signed by that directory's CA.
import type { ExecutionContext } from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certificatePem, issueCertificate, loadCa, privateKeyPem, type Validity } from '../../src/pki/certificates.ts';
import { startProgram } from '../../src/harness/lottery-processes.ts';
import { tempDir } from './lottery-fixtures.ts';

export { clientTlsArgs, clientTlsFilesIn, serverTlsArgs, serverTlsFilesIn } from '../../src/harness/tls-args.ts';

/** Runs lottery-pki into a fresh directory; fails the test if it does not exit 0. */
export async function makePki(t: ExecutionContext, args: string[] = []): Promise<string> {
  return makePkiIn(join(await tempDir(t), 'pki'), args);
}

/** Runs lottery-pki into `dir`, for a PKI that outlives one test; rejects if it does not exit 0. */
export async function makePkiIn(dir: string, args: string[] = []): Promise<string> {
  const run = startProgram('lottery-pki', ['--out', dir, ...args]);
  const code = await run.exited;
  if (code !== 0) throw new Error(`lottery-pki exited ${code}:\n${run.lines.join('\n')}`);
  return dir;
}

/** Writes `name`.crt/.key into `dir`: a client certificate for `commonName` signed by `dir`'s CA, with the validity given. */
export async function issueOutOfDate(dir: string, name: string, commonName: string, validity: Validity): Promise<void> {
  const ca = await loadCa(await readFile(join(dir, 'ca.crt'), 'utf8'), await readFile(join(dir, 'ca.key'), 'utf8'));
  const issued = await issueCertificate(ca, { commonName, usage: 'client', validity });
  await writeFile(join(dir, `${name}.crt`), certificatePem(issued));
  await writeFile(join(dir, `${name}.key`), await privateKeyPem(issued), { mode: 0o600 });
}
