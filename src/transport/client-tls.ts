// The client side of the lottery's mutual TLS (agency and lottery-ping):
// the options a connection is made with, and what its failures mean. A
// failure the client cannot cure by trying again (the server's certificate
// is not the lottery's, or the server refused this client's certificate)
// gets a code of its own, so that the agency stops at once and says why
// instead of retrying for a minute.

import type { ConnectionOptions } from 'node:tls';
import { isIP } from 'node:net';
import { ErrorCode, TlsFailure } from '../errors.ts';

export type ClientTlsFiles = { ca: string; cert?: string; key?: string };

export function clientTlsOptions(host: string, port: number, files: ClientTlsFiles): ConnectionOptions {
  return {
    host,
    port,
    ca: files.ca,
    ...(files.cert === undefined ? {} : { cert: files.cert, key: files.key }),
    // SNI is for names only; an IP address is checked against the certificate's IP entries.
    ...(isIP(host) === 0 ? { servername: host } : {}),
    minVersion: 'TLSv1.3',
  };
}

const SERVER_UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
  'INVALID_PURPOSE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** What the server's TLS alert says about this client's certificate. */
const CLIENT_REFUSED: Record<string, string> = {
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the server requires a client certificate: give --tls-cert and --tls-key',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "the server does not know the CA of this client's certificate (made by another lottery-pki run?)",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    "the server says this client's certificate has expired or is not valid yet: make a new one with lottery-pki",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: "the server says this client's certificate has been revoked",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "the server refused this client's certificate",
  ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE: "the server refused this client's certificate as not made for a client",
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: "the server could not verify this client's certificate",
};

const NOT_TLS = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_RECORD_LAYER_FAILURE',
  'ERR_SSL_UNEXPECTED_EOF_WHILE_READING',
]);

/** The alert the server sends in the clear when it refuses a connection for load (load-refusal.ts). */
const SERVER_BUSY = 'ERR_SSL_TLSV1_ALERT_USER_CANCELLED';

/**
 * A TLS error as the code and sentence the agency reports, or undefined when
 * the error is not about TLS (a refused or reset connection, which may pass).
 * TOO_MANY_CONNECTIONS is the server refusing for load: worth trying again.
 */
export function describeTlsError(
  error: Error & { code?: string },
  server: string,
): { code: TlsFailure | typeof ErrorCode.TOO_MANY_CONNECTIONS; message: string } | undefined {
  const code = error.code ?? '';
  if (code === SERVER_BUSY) {
    return {
      code: ErrorCode.TOO_MANY_CONNECTIONS,
      message: `the server at ${server} is busy: it refused the connection for load (too many connections, or no TLS handshake turn in time)`,
    };
  }
  if (SERVER_UNTRUSTED.has(code)) {
    return {
      code: TlsFailure.SERVER_UNTRUSTED,
      message: `the server at ${server} is not trusted: ${error.message} (is --tls-ca the lottery's CA, and the server's certificate made for this name with lottery-pki --hosts?)`,
    };
  }
  if (code in CLIENT_REFUSED)
    return { code: TlsFailure.CLIENT_REFUSED, message: `the server at ${server} refused the TLS handshake: ${CLIENT_REFUSED[code]}` };
  if (NOT_TLS.has(code)) {
    return {
      code: TlsFailure.NOT_TLS,
      message: `the server at ${server} does not speak TLS (${code}): it runs in plaintext, so drop --tls-ca, --tls-cert and --tls-key, or start it with them`,
    };
  }
  return undefined;
}
