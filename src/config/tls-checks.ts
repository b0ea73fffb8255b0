// What a program checks of its TLS files when it starts, before OpenSSL reads
// them: OpenSSL takes a CA file that holds a leaf certificate, or a server
// certificate and the CA's swapped, and every peer then fails at the
// handshake with words that name no file. Here each file is checked for
// what its flag says it is, and the first problem is told with the flag's
// key. Pure functions of the files' text.

import type { X509Certificate } from 'node:crypto';

// node:crypto is loaded on the first check: a plaintext start makes none.
const crypto = () => process.getBuiltinModule('node:crypto');

export type TlsFileKey = 'tlsCa' | 'tlsCert' | 'tlsKey';
export type TlsFileProblem = { key: TlsFileKey; problem: string };

/** Extended key usage: what a certificate is for. */
const PURPOSE_OID = { server: '1.3.6.1.5.5.7.3.1', client: '1.3.6.1.5.5.7.3.2' } as const;

const holdsPrivateKey = (text: string) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
const holdsCertificate = (text: string) => text.includes('-----BEGIN CERTIFICATE-----');

/** The first certificate in `text`, or the problem with it. */
function certificateIn(text: string): X509Certificate | string {
  if (holdsPrivateKey(text) && !holdsCertificate(text)) return 'holds a private key where a certificate is expected';
  if (!holdsCertificate(text)) return 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)';
  try {
    return new (crypto().X509Certificate)(text);
  } catch (error) {
    return `holds no readable certificate: ${(error as Error).message}`;
  }
}

/**
 * The first problem with a program's TLS files, checked in the order of the
 * flags: the CA file holds a CA certificate; this program's certificate is
 * not a CA and is for its role (server or client); the key is a private key
 * and the one of that certificate.
 */
export function tlsFileProblem(
  files: { ca: string; cert?: string; key?: string },
  role: 'server' | 'client',
  paths: { tlsCa: string; tlsCert: string; tlsKey: string },
): TlsFileProblem | undefined {
  const ca = certificateIn(files.ca);
  if (typeof ca === 'string') return { key: 'tlsCa', problem: `${paths.tlsCa} ${ca}` };
  if (!ca.ca) {
    return {
      key: 'tlsCa',
      problem: `${paths.tlsCa} is not a CA certificate (it is ${ca.subject.replace(/\n/g, ', ')}'s own): give the CA's certificate, ca.crt`,
    };
  }
  if (files.cert === undefined || files.key === undefined) return undefined;
  const cert = certificateIn(files.cert);
  if (typeof cert === 'string') return { key: 'tlsCert', problem: `${paths.tlsCert} ${cert}` };
  if (cert.ca) {
    return {
      key: 'tlsCert',
      problem: `${paths.tlsCert} is a CA certificate: give this ${role}'s own certificate (${role === 'server' ? 'server.crt' : 'agency-K.crt'}), and the CA's as --tls-ca`,
    };
  }
  const purposes = cert.keyUsage;
  if (purposes !== undefined && purposes.length > 0 && !purposes.includes(PURPOSE_OID[role])) {
    const other = role === 'server' ? 'client' : 'server';
    return {
      key: 'tlsCert',
      problem: `${paths.tlsCert} is a certificate for a ${purposes.includes(PURPOSE_OID[other]) ? other : 'other use'}, not for a ${role}`,
    };
  }
  if (holdsCertificate(files.key) && !holdsPrivateKey(files.key)) {
    return { key: 'tlsKey', problem: `${paths.tlsKey} holds a certificate where a private key is expected` };
  }
  let key;
  try {
    key = crypto().createPrivateKey(files.key);
  } catch (error) {
    return { key: 'tlsKey', problem: `${paths.tlsKey} holds no readable private key: ${(error as Error).message}` };
  }
  const der = (of: import('node:crypto').KeyObject) => of.export({ type: 'spki', format: 'der' });
  if (!der(crypto().createPublicKey(key)).equals(der(cert.publicKey))) {
    return { key: 'tlsKey', problem: `${paths.tlsKey} is not the key of ${paths.tlsCert}: give the .key made with that .crt` };
  }
  return undefined;
}

/** Addresses that mean every interface: no certificate names them. */
const ANY_ADDRESS = new Set(['0.0.0.0', '::', '']);

/**
 * Whether the server's certificate names the host it listens on: agencies
 * that reach it by that host check it against the certificate's names.
 */
export function certificateNamesHost(certPem: string, host: string): boolean {
  if (ANY_ADDRESS.has(host)) return true;
  const cert = new (crypto().X509Certificate)(certPem);
  return /^[\d.]+$|:/.test(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
}

/** The names a certificate is for, as a person reads them. */
export function certificateNames(certPem: string): string {
  return new (crypto().X509Certificate)(certPem).subjectAltName ?? '(none)';
}
