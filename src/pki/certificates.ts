// Certificates for the lottery's mutual TLS: a CA of its own, the server's
// certificate (names from --hosts) and one client certificate per agency and
// for the monitor. ECDSA P-256 keys made with Node's WebCrypto; X.509 encoding
// by @peculiar/x509, since Node can read certificates but not make them.
// Runs in lottery-pki and in the tests, never in the server or the agencies.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as Crypto);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A certificate with the key pair it certifies. */
export type Issued = { certificate: x509.X509Certificate; keys: webcrypto.CryptoKeyPair };

export type Validity = { notBefore: Date; notAfter: Date };

/** From a little before now (clocks differ between hosts) to `days` ahead. */
export function validityFor(days: number, now = Date.now()): Validity {
  return { notBefore: new Date(now - 60 * 60 * 1000), notAfter: new Date(now + days * DAY_MS) };
}

/**
 * A random positive 128-bit serial number, as hex. Random rather than
 * counted so that two runs of lottery-pki against one CA cannot collide;
 * callers that hold the CA's other serials still check against them.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x01; // positive and never a short, leading-zero number
  return bytes.toString('hex');
}

const generateKeys = () => webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;

export async function createCa(commonName: string, validity: Validity, serialNumber = randomSerial()): Promise<Issued> {
  const keys = await generateKeys();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber,
    name: [{ CN: [commonName] }],
    ...validity,
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, keys };
}

export type LeafRequest = {
  commonName: string;
  /**
   * serverAuth for the server, clientAuth for agencies and the monitor:
   * neither can stand in for the other; signing (codeSigning) for the
   * results-signing identity, which no TLS peer accepts.
   */
  usage: 'server' | 'client' | 'signing';
  /** DNS names and IP addresses the server answers on (server certificates only). */
  hosts?: readonly string[];
  validity: Validity;
  serialNumber?: string;
};

export async function issueCertificate(ca: Issued, request: LeafRequest): Promise<Issued> {
  const keys = await generateKeys();
  const hosts = request.hosts ?? [];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([
      request.usage === 'server'
        ? x509.ExtendedKeyUsage.serverAuth
        : request.usage === 'client'
          ? x509.ExtendedKeyUsage.clientAuth
          : x509.ExtendedKeyUsage.codeSigning,
    ]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
  ];
  if (hosts.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(hosts.map((host) => ({ type: isIpAddress(host) ? 'ip' : 'dns', value: host }))),
    );
  }
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: request.serialNumber ?? randomSerial(),
    subject: [{ CN: [request.commonName] }],
    issuer: ca.certificate.subject,
    ...request.validity,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions,
  });
  return { certificate, keys };
}

/** A certificate revocation list naming `serials`, signed by the CA, valid until the CA expires. */
export async function createCrl(ca: Issued, serials: readonly string[], now = new Date()): Promise<x509.X509Crl> {
  return x509.X509CrlGenerator.create({
    issuer: ca.certificate.subject,
    thisUpdate: now,
    nextUpdate: ca.certificate.notAfter,
    entries: serials.map((serialNumber) => ({ serialNumber, revocationDate: now, reason: x509.X509CrlReason.keyCompromise })),
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALGORITHM,
  });
}

export function crlPem(crl: x509.X509Crl): string {
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
}

export function certificatePem(issued: Issued): string {
  return `${issued.certificate.toString('pem')}\n`;
}

/** The private key as PKCS #8 PEM, which Node's TLS reads as it is. */
export async function privateKeyPem(issued: Issued): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', issued.keys.privateKey);
  return `${x509.PemConverter.encode(der, 'PRIVATE KEY')}\n`;
}

/** A CA read back from its PEM files, to issue more certificates with it. */
export async function loadCa(certificatePemText: string, privateKeyPemText: string): Promise<Issued> {
  const certificate = new x509.X509Certificate(certificatePemText);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(privateKeyPemText), ALGORITHM, true, ['sign']);
  const publicKey = await certificate.publicKey.export(ALGORITHM, ['verify']);
  return { certificate, keys: { privateKey, publicKey } };
}

/** Reads one PEM certificate: its serial number and common name. */
export function describeCertificate(pem: string): { serialNumber: string; commonName: string; notAfter: Date } {
  const certificate = new x509.X509Certificate(pem);
  return {
    serialNumber: certificate.serialNumber,
    commonName: certificate.subjectName.getField('CN')[0] ?? '',
    notAfter: certificate.notAfter,
  };
}

export function serialsInCrl(pem: string): string[] {
  return new x509.X509Crl(pem).entries.map((entry) => entry.serialNumber);
}

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

/** The host names and IP addresses a certificate names (its subject alternative names), as --hosts gives them. */
export function namesInCertificate(pem: string): string[] {
  const names = new X509Certificate(pem).subjectAltName ?? '';
  return names
    .split(', ')
    .map((entry) => /^(?:DNS|IP Address):(.+)$/.exec(entry)?.[1])
    .filter((name): name is string => name !== undefined);
}

/** Which of the certificates (by name) are revoked by the CRL. */
export function revokedIn(crlPemText: string, certificates: ReadonlyArray<readonly [string, string]>): string[] {
  const serials = new Set(serialsInCrl(crlPemText).map((serial) => serial.toLowerCase()));
  return certificates.filter(([, pem]) => serials.has(describeCertificate(pem).serialNumber.toLowerCase())).map(([name]) => name);
}
