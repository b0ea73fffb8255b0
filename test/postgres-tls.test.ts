// A --store URL with sslmode, against a real PostgreSQL 15 that speaks TLS:
// the store's own sockets (made to turn Nagle's algorithm off) still carry
// postgres.js's TLS, also when the URL's first host refuses the connection.
import test from 'ava';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import postgres from 'postgres';
import { certificatePem, createCa, issueCertificate, privateKeyPem, validityFor } from '../src/pki/certificates.ts';
import { connectionOptions } from '../src/storage/postgres/store-url.ts';
import { PostgresCluster, postgresMissing } from './helpers/postgres-cluster.ts';

const missing = postgresMissing();

/** How the server sees this connection: whether it is TLS, and which version. */
async function sslOf(url: string): Promise<{ ssl: boolean; version: string | null }> {
  const sql = postgres(url, { ...connectionOptions(url, 'tls-test'), max: 1, connect_timeout: 10 });
  try {
    const [row] = await sql`select ssl, version from pg_stat_ssl where pid = pg_backend_pid()`;
    return { ssl: row.ssl as boolean, version: row.version as string | null };
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** A port nothing listens on: taken, then given back. */
async function refusedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

if (missing !== undefined) test.skip(missing, () => undefined);
else
  test('sslmode=require talks to PostgreSQL over TLS, past a first host that refuses; sslmode=disable does not', async (t) => {
    const validity = validityFor(1);
    const ca = await createCa('test CA', validity);
    const server = await issueCertificate(ca, { commonName: '127.0.0.1', usage: 'server', hosts: ['127.0.0.1'], validity });
    const cluster = await PostgresCluster.start({ tls: { cert: certificatePem(server), key: await privateKeyPem(server) } });
    t.teardown(() => cluster.remove());
    const port = Number(new URL(cluster.primary.url).port);
    const hosts = `127.0.0.1:${await refusedPort()},127.0.0.1:${port}`;
    const tls = await sslOf(`postgres://lottery@${hosts}/postgres?sslmode=require&target_session_attrs=read-write`);
    t.true(tls.ssl);
    t.regex(tls.version ?? '', /^TLSv1\.[23]$/);
    t.deepEqual(await sslOf(`postgres://lottery@127.0.0.1:${port}/postgres?sslmode=disable`), { ssl: false, version: null });
  });
