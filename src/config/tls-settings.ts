// The TLS settings the server, the agency and lottery-ping share: which
// files hold the CA, this program's certificate and key (and, for the
// server, a revocation list), and their reading at start, so that a missing
// or mismatched file stops the program with a message that names its flag.

import { readFileSync } from 'node:fs';
import { loadTls } from '../transport/tls-module.ts';
import { tlsFileProblem } from './tls-checks.ts';
import { flagAndVariable, usageError, type ProgramInfo, type Schema, type Setting } from './program-config.ts';

export type TlsPaths = { tlsCa: string; tlsCert: string; tlsKey: string };
export type ServerTlsPaths = TlsPaths & { tlsCrl: string };
export type TlsFiles = { ca: string; cert: string; key: string };

const file = (doc: string, env: string, arg: string): Setting => ({ doc, format: String, default: '', env, arg });

/** --tls-ca, --tls-cert, --tls-key with the program's environment prefix (LOTTERY or CLI). */
export function tlsSettings(prefix: string, role: 'server' | 'client') {
  const who = role === 'server' ? 'the server' : 'this client';
  return {
    tlsCa: file(
      role === 'server'
        ? 'PEM file of the CA whose client certificates are accepted (with --tls-cert and --tls-key: TLS 1.3, client certificates required)'
        : "PEM file of the CA the server's certificate must be signed by (turns TLS on)",
      `${prefix}_TLS_CA`,
      'tls-ca',
    ),
    tlsCert: file(`PEM file of ${who}'s certificate (see lottery-pki)`, `${prefix}_TLS_CERT`, 'tls-cert'),
    tlsKey: file(`PEM file of ${who}'s private key`, `${prefix}_TLS_KEY`, 'tls-key'),
  } satisfies Schema;
}

export const tlsCrlSetting = {
  tlsCrl: file('PEM file of revoked certificates (lottery-pki --revoke writes ca.crl); read at start', 'LOTTERY_TLS_CRL', 'tls-crl'),
} satisfies Schema;

/** The server's TLS files, or undefined for plaintext; exits 2 naming the flag when one is missing, unreadable or wrong. */
export function loadServerTls(program: ProgramInfo, schema: Schema, config: ServerTlsPaths): (TlsFiles & { crl?: string }) | undefined {
  const given = (['tlsCa', 'tlsCert', 'tlsKey'] as const).filter((key) => config[key] !== '');
  if (given.length === 0) {
    if (config.tlsCrl !== '') fail(program, schema, 'tlsCrl', 'needs --tls-ca, --tls-cert and --tls-key');
    return undefined;
  }
  for (const key of ['tlsCa', 'tlsCert', 'tlsKey'] as const) {
    if (config[key] === '')
      fail(program, schema, key, `is needed with ${given.map((k) => `--${schema[k].arg}`).join(' and ')}: TLS needs all three`);
  }
  const files = {
    ca: read(program, schema, 'tlsCa', config.tlsCa),
    cert: read(program, schema, 'tlsCert', config.tlsCert),
    key: read(program, schema, 'tlsKey', config.tlsKey),
    ...(config.tlsCrl === '' ? {} : { crl: read(program, schema, 'tlsCrl', config.tlsCrl) }),
  };
  checkFiles(program, schema, files, 'server', config);
  check(program, () => loadTls().createSecureContext(files));
  if (files.crl !== undefined) checkCrlSigner(program, schema, config.tlsCrl, files.crl, files.ca);
  return files;
}

/**
 * A CRL that the given CA did not sign makes OpenSSL refuse every client
 * ("unable to get certificate CRL"), and every lottery-pki run names its CA
 * alike, so a CRL from another run looks right by name: its signature is
 * checked against the CA's key at start.
 */
function checkCrlSigner(program: ProgramInfo, schema: Schema, path: string, crlPem: string, caPem: string): void {
  let signed: boolean;
  try {
    const { tbs, algorithm, signature } = signedParts(crlDer(crlPem));
    const hash = HASH_OF_SIGNATURE[algorithm];
    if (hash === undefined) throw new Error(`its signature algorithm (OID bytes ${algorithm}) is not one lottery-pki uses`);
    // node:crypto only where TLS is configured: a plaintext start does without it.
    const { X509Certificate, verify } = process.getBuiltinModule('node:crypto');
    signed = verify(hash, tbs, new X509Certificate(caPem).publicKey, signature);
  } catch (error) {
    fail(program, schema, 'tlsCrl', `${path} is not a revocation list this server can read: ${(error as Error).message}`);
  }
  if (!signed) {
    fail(
      program,
      schema,
      'tlsCrl',
      `${path} was not signed by the CA in --${schema.tlsCa.arg} (a CRL from another lottery-pki run?): with it every client would be refused`,
    );
  }
}

/** The hash of each signature algorithm a CRL may be signed with, by its OID's content bytes in hex (null: none, Ed25519). */
const HASH_OF_SIGNATURE: Record<string, string | null> = {
  '2a8648ce3d040302': 'sha256', // ecdsa-with-SHA256
  '2a8648ce3d040303': 'sha384',
  '2a8648ce3d040304': 'sha512',
  '2a864886f70d01010b': 'sha256', // sha256WithRSAEncryption
  '2a864886f70d01010c': 'sha384',
  '2a864886f70d01010d': 'sha512',
  '2b6570': null, // Ed25519
};

/** The DER of the first X509 CRL block of a PEM file. */
function crlDer(pem: string): Buffer {
  const body = /-----BEGIN X509 CRL-----([^-]*)-----END X509 CRL-----/.exec(pem)?.[1];
  if (body === undefined) throw new Error('it holds no X509 CRL block');
  return Buffer.from(body.replace(/\s+/g, ''), 'base64');
}

/** The signed bytes (tbsCertList, header included), the signature algorithm's OID and the signature of a DER CertificateList. */
function signedParts(der: Buffer): { tbs: Buffer; algorithm: string; signature: Buffer } {
  const outer = derElement(der, 0);
  const tbs = derElement(der, outer.contentStart);
  const algorithm = derElement(der, tbs.end);
  const oid = derElement(der, algorithm.contentStart);
  const bits = derElement(der, algorithm.end);
  // A BIT STRING's first content byte counts the unused bits: 0 for a signature.
  return {
    tbs: der.subarray(tbs.start, tbs.end),
    algorithm: der.subarray(oid.contentStart, oid.end).toString('hex'),
    signature: der.subarray(bits.contentStart + 1, bits.end),
  };
}

function derElement(der: Buffer, start: number): { start: number; contentStart: number; end: number } {
  let at = start + 1;
  let length = der[at++];
  if (length === undefined) throw new Error('a DER element is cut short');
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error('a DER length is malformed');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[at++];
  }
  if (at + length > der.length) throw new Error('a DER element is cut short');
  return { start, contentStart: at, end: at + length };
}

/** A client's TLS files, or undefined for plaintext. --tls-ca turns TLS on; --tls-cert and --tls-key go together. */
export function loadClientTls(program: ProgramInfo, schema: Schema, config: TlsPaths): (Partial<TlsFiles> & { ca: string }) | undefined {
  if (config.tlsCa === '') {
    const stray = (['tlsCert', 'tlsKey'] as const).find((key) => config[key] !== '');
    if (stray !== undefined) fail(program, schema, stray, "needs --tls-ca: the CA the server's certificate is checked against");
    return undefined;
  }
  if ((config.tlsCert === '') !== (config.tlsKey === '')) {
    fail(
      program,
      schema,
      config.tlsCert === '' ? 'tlsCert' : 'tlsKey',
      `goes with --${schema[config.tlsCert === '' ? 'tlsKey' : 'tlsCert'].arg}: a certificate needs its key`,
    );
  }
  const files = {
    ca: read(program, schema, 'tlsCa', config.tlsCa),
    ...(config.tlsCert === ''
      ? {}
      : { cert: read(program, schema, 'tlsCert', config.tlsCert), key: read(program, schema, 'tlsKey', config.tlsKey) }),
  };
  checkFiles(program, schema, files, 'client', config);
  check(program, () => loadTls().createSecureContext(files));
  return files;
}

function read(program: ProgramInfo, schema: Schema, key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    fail(program, schema, key, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Each file is what its flag says it is (tls-checks.ts), before OpenSSL, whose words name no file, reads them. */
function checkFiles(
  program: ProgramInfo,
  schema: Schema,
  files: { ca: string; cert?: string; key?: string },
  role: 'server' | 'client',
  paths: TlsPaths,
): void {
  const found = tlsFileProblem(files, role, paths);
  if (found !== undefined) fail(program, schema, found.key, found.problem);
}

function check(program: ProgramInfo, makeContext: () => unknown): void {
  try {
    makeContext();
  } catch (error) {
    throw usageError(program, [`the TLS files do not make a usable certificate and key: ${(error as Error).message}`]);
  }
}

function fail(program: ProgramInfo, schema: Schema, key: string, problem: string): never {
  throw usageError(program, [`${flagAndVariable(schema[key])}: ${problem}`]);
}
