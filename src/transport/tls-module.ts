// node:tls, loaded only by a program that uses TLS: it and the crypto it
// pulls in cost every thread that loads them several milliseconds of start,
// which a plaintext agency or server need not pay.

export function loadTls(): typeof import('node:tls') {
  return process.getBuiltinModule('node:tls');
}
