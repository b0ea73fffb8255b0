// The command-line flags that point the real programs at a directory made
// by lottery-pki (see src/pki/pki-directory.ts for its layout), and the same
// files read for a connection made in-process: for the demo, the tests, the
// course-dataset check and the benchmark.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClientTlsFiles } from '../transport/client-tls.ts';
import type { ServerTlsFiles } from '../transport/server-transport.ts';

/** The server's flags: the CA, the server's certificate and key, and ca.crl when `crl`. */
export const serverTlsArgs = (dir: string, crl = false) => [
  '--tls-ca',
  join(dir, 'ca.crt'),
  '--tls-cert',
  join(dir, 'server.crt'),
  '--tls-key',
  join(dir, 'server.key'),
  ...(crl ? ['--tls-crl', join(dir, 'ca.crl')] : []),
];

/**
 * A client's flags: the CA, and the certificate and key named `name`
 * (agency-K, monitor) if given, taken from `certDir` (by default the same
 * directory; another one gives a certificate from another CA).
 */
export const clientTlsArgs = (dir: string, name?: string, certDir = dir) => [
  '--tls-ca',
  join(dir, 'ca.crt'),
  ...(name === undefined ? [] : ['--tls-cert', join(certDir, `${name}.crt`), '--tls-key', join(certDir, `${name}.key`)]),
];

/** The server's PEM files in `dir`, as a session worker gets them. */
export const serverTlsFilesIn = (dir: string): Promise<ServerTlsFiles> => pemFilesIn(dir, 'server');

/** A client's PEM files in `dir`: the CA, and the certificate and key named `name` (agency-K, monitor). */
export const clientTlsFilesIn = (dir: string, name: string): Promise<ClientTlsFiles> => pemFilesIn(dir, name);

/** The CA's certificate and `name`'s certificate and key, as lottery-pki names them in `dir`. */
async function pemFilesIn(dir: string, name: string): Promise<{ ca: string; cert: string; key: string }> {
  const [ca, cert, key] = await Promise.all(['ca.crt', `${name}.crt`, `${name}.key`].map((file) => readFile(join(dir, file), 'utf8')));
  return { ca, cert, key };
}
