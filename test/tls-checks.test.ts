// The TLS files' checks at start, in memory: each file is what its flag says
// it is, or the problem names the flag's key and the file.
import test from 'ava';
import { tlsFileProblem, certificateNamesHost } from '../src/config/tls-checks.ts';
import { certificatePem, createCa, issueCertificate, privateKeyPem, validityFor } from '../src/pki/certificates.ts';

const paths = { tlsCa: 'ca.crt', tlsCert: 'own.crt', tlsKey: 'own.key' };

const made = (async () => {
  const ca = await createCa('lottery-ca', validityFor(10));
  const server = await issueCertificate(ca, {
    commonName: 'lottery-server',
    usage: 'server',
    hosts: ['lottery.example', '10.0.0.7'],
    validity: validityFor(10),
  });
  const agency = await issueCertificate(ca, { commonName: 'agency-1', usage: 'client', validity: validityFor(10) });
  const pem = async (issued: typeof ca) => ({ cert: certificatePem(issued), key: await privateKeyPem(issued) });
  return { ca: await pem(ca), server: await pem(server), agency: await pem(agency) };
})();

test('right files have no problem, for the server and for a client', async (t) => {
  const { ca, server, agency } = await made;
  t.is(tlsFileProblem({ ca: ca.cert, ...server }, 'server', paths), undefined);
  t.is(tlsFileProblem({ ca: ca.cert, ...agency }, 'client', paths), undefined);
  t.is(tlsFileProblem({ ca: ca.cert }, 'client', paths), undefined, 'a client with the CA alone');
});

test('the certificate and the CA swapped: the CA file is named as no CA', async (t) => {
  const { ca, server } = await made;
  t.deepEqual(tlsFileProblem({ ca: server.cert, cert: ca.cert, key: ca.key }, 'server', paths), {
    key: 'tlsCa',
    problem: "ca.crt is not a CA certificate (it is CN=lottery-server's own): give the CA's certificate, ca.crt",
  });
});

test('a key where a certificate is expected, and a certificate where a key is', async (t) => {
  const { ca, server } = await made;
  t.like(tlsFileProblem({ ca: ca.key, ...server }, 'server', paths), {
    key: 'tlsCa',
    problem: 'ca.crt holds a private key where a certificate is expected',
  });
  t.like(tlsFileProblem({ ca: ca.cert, cert: server.key, key: server.cert }, 'server', paths), {
    key: 'tlsCert',
    problem: 'own.crt holds a private key where a certificate is expected',
  });
  t.like(tlsFileProblem({ ca: ca.cert, cert: server.cert, key: server.cert }, 'server', paths), {
    key: 'tlsKey',
    problem: 'own.key holds a certificate where a private key is expected',
  });
  t.like(tlsFileProblem({ ca: 'garbage', ...server }, 'server', paths), { key: 'tlsCa' });
});

test('a CA certificate as the own certificate, and a certificate for the other role, are refused', async (t) => {
  const { ca, server, agency } = await made;
  t.is(tlsFileProblem({ ca: ca.cert, cert: ca.cert, key: ca.key }, 'server', paths)?.key, 'tlsCert');
  t.regex(tlsFileProblem({ ca: ca.cert, cert: ca.cert, key: ca.key }, 'server', paths)!.problem, /^own\.crt is a CA certificate/);
  t.is(tlsFileProblem({ ca: ca.cert, ...agency }, 'server', paths)?.problem, 'own.crt is a certificate for a client, not for a server');
  t.is(tlsFileProblem({ ca: ca.cert, ...server }, 'client', paths)?.problem, 'own.crt is a certificate for a server, not for a client');
});

test('a key that is not the certificate’s is named with both files', async (t) => {
  const { ca, server, agency } = await made;
  t.deepEqual(tlsFileProblem({ ca: ca.cert, cert: server.cert, key: agency.key }, 'server', paths), {
    key: 'tlsKey',
    problem: 'own.key is not the key of own.crt: give the .key made with that .crt',
  });
});

test('the server certificate names its host, unless the host is every interface', async (t) => {
  const { server } = await made;
  t.true(certificateNamesHost(server.cert, 'lottery.example'));
  t.true(certificateNamesHost(server.cert, '10.0.0.7'));
  t.true(certificateNamesHost(server.cert, '0.0.0.0'));
  t.false(certificateNamesHost(server.cert, '127.0.0.1'));
  t.false(certificateNamesHost(server.cert, 'other.example'));
});
