// lottery-pki through the real program: the files it writes, their modes,
// that every certificate chains to the CA it made, and that a second run
// keeps an existing CA and only adds what is missing.
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startProgram } from '../src/harness/lottery-processes.ts';
import { tempDir } from './helpers/lottery-fixtures.ts';

async function pki(args: string[]) {
  const run = startProgram('lottery-pki', args);
  return { code: await run.exited, output: run.lines.join('\n') };
}

const certificate = async (dir: string, name: string) => new X509Certificate(await readFile(join(dir, `${name}.crt`)));

test('lottery-pki makes a CA, a server certificate named by --hosts, one per agency and a monitor, keys 0600', async (t) => {
  const dir = join(await tempDir(t), 'pki');
  const { code, output } = await pki(['--out', dir, '--agencies', '3', '--hosts', 'server,localhost,127.0.0.1']);
  t.is(code, 0, output);
  const ca = await certificate(dir, 'ca');
  t.true(ca.ca);
  const names = ['server', 'monitor', 'agency-1', 'agency-2', 'agency-3'];
  const serials = new Set([ca.serialNumber]);
  for (const name of names) {
    const cert = await certificate(dir, name);
    t.true(cert.verify(ca.publicKey), `${name}.crt is signed by the CA`);
    t.true(cert.checkIssued(ca), `${name}.crt names the CA as issuer`);
    t.false(cert.ca);
    t.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', `${name}'s key is ECDSA P-256`);
    serials.add(cert.serialNumber);
  }
  t.is(serials.size, names.length + 1, 'every serial number is different');
  t.regex((await certificate(dir, 'agency-2')).subject, /CN=agency-2/);
  t.regex((await certificate(dir, 'monitor')).subject, /CN=monitor/);
  const server = await certificate(dir, 'server');
  t.is(server.subjectAltName, 'DNS:server, DNS:localhost, IP Address:127.0.0.1');
  t.is(server.checkHost('server'), 'server');
  t.is(server.checkIP('127.0.0.1'), '127.0.0.1');
  for (const name of ['ca', ...names]) {
    t.is((await stat(join(dir, `${name}.key`))).mode & 0o777, 0o600, `${name}.key is 0600`);
  }
  t.is((await stat(dir)).mode & 0o777, 0o700);
});

test('lottery-pki run again keeps the CA and the agencies it has and adds the missing ones; --force replaces the CA', async (t) => {
  const dir = join(await tempDir(t), 'pki');
  t.is((await pki(['--out', dir, '--agencies', '2'])).code, 0);
  const before = { ca: await readFile(join(dir, 'ca.crt'), 'utf8'), agency1: await readFile(join(dir, 'agency-1.key'), 'utf8') };

  const again = await pki(['--out', dir, '--agencies', '4']);
  t.is(again.code, 0, again.output);
  t.regex(again.output, /made agency-3\.crt agency-3\.key agency-4\.crt agency-4\.key/);
  t.is(await readFile(join(dir, 'ca.crt'), 'utf8'), before.ca, 'the CA is not overwritten');
  t.is(await readFile(join(dir, 'agency-1.key'), 'utf8'), before.agency1, 'agency 1 keeps its key');
  const ca = await certificate(dir, 'ca');
  t.true((await certificate(dir, 'agency-4')).verify(ca.publicKey), 'the added agencies are signed by the same CA');
  const serials = await Promise.all(
    ['ca', 'server', 'monitor', 'agency-1', 'agency-2', 'agency-3', 'agency-4'].map(
      async (name) => (await certificate(dir, name)).serialNumber,
    ),
  );
  t.is(new Set(serials).size, serials.length);

  const forced = await pki(['--out', dir, '--agencies', '1', '--force']);
  t.is(forced.code, 0, forced.output);
  const newCa = await certificate(dir, 'ca');
  t.not(newCa.serialNumber, ca.serialNumber);
  t.true((await certificate(dir, 'agency-1')).verify(newCa.publicKey));
  await t.throwsAsync(stat(join(dir, 'agency-4.crt')), undefined, 'what the old CA signed is gone with it');
});

test("lottery-pki --revoke lists an agency's certificate in ca.crl, signed by the CA", async (t) => {
  const dir = join(await tempDir(t), 'pki');
  t.is((await pki(['--out', dir, '--agencies', '3'])).code, 0);
  const revoked = await pki(['--out', dir, '--revoke', '2']);
  t.is(revoked.code, 0, revoked.output);
  const crl = await readFile(join(dir, 'ca.crl'), 'utf8');
  t.regex(crl, /-----BEGIN X509 CRL-----/);
  const missing = await pki(['--out', dir, '--revoke', '9']);
  t.is(missing.code, 1);
  t.regex(missing.output, /no .*agency-9\.crt to revoke/);
  const before = await readFile(join(dir, 'ca.crl'), 'utf8');
  const ca = await pki(['--out', dir, '--revoke', 'ca']);
  t.is(ca.code, 1);
  t.regex(ca.output, /the CA cannot be revoked: make a new one with lottery-pki --force/);
  t.is(await readFile(join(dir, 'ca.crl'), 'utf8'), before, 'ca.crl is untouched');
});

test('lottery-pki refuses to add to a CA whose key is missing', async (t) => {
  const dir = join(await tempDir(t), 'pki');
  t.is((await pki(['--out', dir, '--agencies', '1'])).code, 0);
  const { rm } = await import('node:fs/promises');
  await rm(join(dir, 'ca.key'));
  const run = await pki(['--out', dir, '--agencies', '2']);
  t.is(run.code, 1);
  t.regex(run.output, /ca\.key does not/);
});

test('lottery-pki refuses --days past 100 years, host names a certificate cannot hold, and closes an existing directory to 0700', async (t) => {
  const root = await tempDir(t);
  for (const flag of ['--days', '--ca-days']) {
    const run = await pki(['--out', join(root, 'long'), flag, '3650000']);
    t.is(run.code, 2, run.output);
    t.regex(run.output, new RegExp(`^lottery-pki: ${flag} \\(PKI_(CA_)?DAYS\\): must be a number of days from 1 to 36500`));
  }
  t.false(existsSync(join(root, 'long')), 'nothing written');
  for (const host of ['bad host', 'a..b', '-lead.example', 'x_y.example']) {
    const run = await pki(['--out', join(root, 'hosts'), '--hosts', `localhost,${host}`]);
    t.is(run.code, 1, run.output);
    t.regex(run.output, /--hosts: .* is neither an IP address nor a host name/);
  }
  t.false(existsSync(join(root, 'hosts', 'ca.key')), 'nothing issued');
  const existing = join(root, 'existing');
  await mkdir(existing, { mode: 0o755 });
  await chmod(existing, 0o755);
  const made = await pki(['--out', existing, '--agencies', '1', '--hosts', 'lottery.example,*.lottery.example,10.0.0.5,::1']);
  t.is(made.code, 0, made.output);
  t.is((await stat(existing)).mode & 0o777, 0o700);
});
