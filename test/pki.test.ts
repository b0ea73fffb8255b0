// lottery-pki through the real program: the files it writes, their modes,
// that every certificate chains to the CA it made, and that a second run
// keeps an existing CA and only adds what is missing.
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
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
  t.is(ca.code, 2, ca.output);
  t.regex(ca.output, /^lottery-pki: --revoke \(PKI_REVOKE\): the CA cannot be revoked: make a new one with --force/);
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

test('lottery-pki refuses bad values with exit 2 and one line naming the flag', async (t) => {
  const dir = join(await tempDir(t), 'pki');
  for (const [args, message] of [
    [['--revoke', 'two'], /^lottery-pki: --revoke \(PKI_REVOKE\): "two" is neither an agency id/],
    [['--hosts', ''], /^lottery-pki: --hosts \(PKI_HOSTS\): names no host/],
    [['--out', '/etc/passwd'], /^lottery-pki: --out \(PKI_OUT\): \/etc\/passwd exists and is not a directory/],
  ] as const) {
    const run = await pki((args as readonly string[]).includes('--out') ? [...args] : ['--out', dir, ...args]);
    t.is(run.code, 2, `${args.join(' ')}: ${run.output}`);
    t.regex(run.output, message);
  }
});

test('lottery-pki --force without --hosts reissues the server certificate for the names the old one had', async (t) => {
  const dir = join(await tempDir(t), 'pki');
  t.is((await pki(['--out', dir, '--agencies', '1', '--hosts', 'lottery.example,10.0.0.7'])).code, 0);
  const forced = await pki(['--out', dir, '--agencies', '1', '--force']);
  t.is(forced.code, 0, forced.output);
  t.is((await certificate(dir, 'server')).subjectAltName, 'DNS:lottery.example, IP Address:10.0.0.7');
  t.regex(forced.output, /server certificate names: lottery\.example, 10\.0\.0\.7 \(those of the server\.crt it replaces/);
});

test('lottery-pki run again after --revoke says which kept certificate is revoked and how to issue a new one', async (t) => {
  const dir = join(await tempDir(t), 'pki');
  t.is((await pki(['--out', dir, '--agencies', '3'])).code, 0);
  t.is((await pki(['--out', dir, '--revoke', '3'])).code, 0);
  const again = await pki(['--out', dir, '--agencies', '3']);
  t.is(again.code, 0, again.output);
  t.regex(again.output, /agency-3\.crt is revoked in ca\.crl: remove agency-3\.crt and agency-3\.key and run again/);
  t.notRegex(again.output, /agency-2\.crt is revoked/);
});

test('lottery-pki stops on SIGINT while it makes certificates, leaving only whole files', async (t) => {
  const dir = join(await tempDir(t), 'pki');
  const run = startProgram('lottery-pki', ['--out', dir, '--agencies', '2000']);
  t.teardown(() => run.child.kill('SIGKILL'));
  // Once the CA is there it is making the others: stop it then.
  const { pollUntil, within } = await import('./helpers/lottery-fixtures.ts');
  const { readdir } = await import('node:fs/promises');
  await pollUntil(async () => (await readdir(dir).catch((): string[] => [])).includes('ca.crt'), 'the CA written');
  run.child.kill('SIGINT');
  t.is(await within(run.exited, 'lottery-pki exiting'), 130, run.lines.join('\n'));
  t.regex(run.lines.join('\n'), /lottery-pki: stopped by SIGINT; the files made so far are whole/);
  const files = await readdir(dir);
  t.false(files.includes('agency-2000.crt'), 'it stopped before the end');
  t.deepEqual(
    files.filter((name) => !/^(ca|server|monitor|results|agency-\d+)\.(crt|key)$/.test(name)),
    [],
    'no partial file left',
  );
  for (const name of files.filter((file) => file.endsWith('.crt')))
    t.notThrows(() => new X509Certificate(readFileSync(join(dir, name))), name);
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
    t.is(run.code, 2, run.output);
    t.regex(run.output, /^lottery-pki: --hosts \(PKI_HOSTS\): .* is neither an IP address nor a host name/);
  }
  t.false(existsSync(join(root, 'hosts', 'ca.key')), 'nothing issued');
  const existing = join(root, 'existing');
  await mkdir(existing, { mode: 0o755 });
  await chmod(existing, 0o755);
  const made = await pki(['--out', existing, '--agencies', '1', '--hosts', 'lottery.example,*.lottery.example,10.0.0.5,::1']);
  t.is(made.code, 0, made.output);
  t.is((await stat(existing)).mode & 0o777, 0o700);
});
