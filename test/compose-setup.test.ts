// The Compose file's setup service, in process on temporary directories as
// its volumes: from a fresh clone it makes certificates and sample files;
// an operator's PKI and agency files take precedence; each service's volume
// holds only its own files, owned by the programs' user, keys 0600; a file
// it cannot use is named with the fix.
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROGRAM_USER, setUp, unreadableMessage, type SetupPaths } from '../src/compose/compose-setup.ts';
import { makePkiDirectory } from '../src/pki/pki-directory.ts';

// The setup gives its files to uid 1000, which only root may do.
const asRoot = process.getuid?.() === 0;
if (!asRoot) console.log('compose-setup tests skipped: they chown to 1000:1000, run them as root to enable');
const rootTest = asRoot ? test : test.skip;

async function directories(t: { teardown: (fn: () => Promise<void>) => void }) {
  const root = await mkdtemp(join(tmpdir(), 'compose-setup-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const paths: SetupPaths = {
    givenPki: { dir: join(root, 'project/.data/pki'), shown: '.data/pki' },
    givenFiles: { dir: join(root, 'project/.data'), shown: '.data' },
    state: join(root, 'setup'),
    outputs: (service) => join(root, 'inputs', service),
  };
  return { root, paths };
}

async function expectVolume(t: import('ava').ExecutionContext, dir: string, names: string[]) {
  t.deepEqual((await readdir(dir)).sort(), [...names].sort());
  for (const name of names) {
    const info = await stat(join(dir, name));
    t.is(info.uid, PROGRAM_USER.uid, name);
    t.is(info.gid, PROGRAM_USER.gid, name);
    t.is(info.mode & 0o777, name.endsWith('.key') ? 0o600 : 0o644, name);
  }
}

rootTest('from a fresh clone it makes the certificates and sample files, and each service gets only its own', async (t) => {
  const { paths } = await directories(t);
  const said = await setUp(2, paths);
  t.regex(said[0], /^setup: no ca\.crt in \.data\/pki: made \d+ certificate files for server, localhost, 127\.0\.0\.1/);
  t.true(said.includes('setup: no .data/agency-2.csv: agency2 uploads a sample file (2000 bets, 2 winners)'));
  await expectVolume(t, paths.outputs('server'), ['ca.crt', 'server.crt', 'server.key', 'monitor.crt', 'monitor.key']);
  await expectVolume(t, paths.outputs('agency1'), ['ca.crt', 'agency-1.crt', 'agency-1.key', 'agency-1.csv']);
  await expectVolume(t, paths.outputs('agency2'), ['ca.crt', 'agency-2.crt', 'agency-2.key', 'agency-2.csv']);
  const sample = await readFile(join(paths.outputs('agency2'), 'agency-2.csv'), 'utf8');
  t.is(sample.trimEnd().split('\r\n').length, 2000);
  t.is(
    sample
      .trimEnd()
      .split('\r\n')
      .filter((line) => line.endsWith(',7574')).length,
    2,
  );

  // The next `up`: the same CA, the same samples.
  const ca = await readFile(join(paths.outputs('server'), 'ca.crt'), 'utf8');
  const again = await setUp(2, paths);
  t.regex(again[0], /the certificates made before are kept/);
  t.is(await readFile(join(paths.outputs('server'), 'ca.crt'), 'utf8'), ca);
  t.is(await readFile(join(paths.outputs('agency2'), 'agency-2.csv'), 'utf8'), sample);
});

rootTest("for compose/scale.yaml each front-end gets the server's files, and the certificates made name every front-end", async (t) => {
  const { paths } = await directories(t);
  const said = await setUp(1, paths, ['server1', 'server2']);
  t.regex(said[0], /made \d+ certificate files for server1, server2, localhost, 127\.0\.0\.1/);
  t.regex(said.at(-1)!, /ready for server1, server2 and agency1/);
  for (const server of ['server1', 'server2'])
    await expectVolume(t, paths.outputs(server), ['ca.crt', 'server.crt', 'server.key', 'monitor.crt', 'monitor.key']);
  const names = new X509Certificate(await readFile(join(paths.outputs('server2'), 'server.crt'))).subjectAltName ?? '';
  t.regex(names, /DNS:server1/);
  t.regex(names, /DNS:server2/);
});

rootTest("an operator's PKI and agency files take precedence over what the setup would make", async (t) => {
  const { paths } = await directories(t);
  await makePkiDirectory({ dir: paths.givenPki.dir, agencies: 2, hosts: ['server'], days: 1, caDays: 2, force: false });
  await writeFile(join(paths.givenFiles.dir, 'agency-1.csv'), 'Ana,Pérez,30111222,1990-01-02,7574\n');
  const said = await setUp(2, paths);
  t.is(said[0], 'setup: certificates from .data/pki');
  t.is(await readFile(join(paths.outputs('server'), 'ca.crt'), 'utf8'), await readFile(join(paths.givenPki.dir, 'ca.crt'), 'utf8'));
  t.is(await readFile(join(paths.outputs('agency1'), 'agency-1.csv'), 'utf8'), 'Ana,Pérez,30111222,1990-01-02,7574\n');
  // Only the file that is missing is a sample.
  t.false(said.some((line) => line.includes('agency-1.csv')));
  t.true(said.some((line) => line.includes('no .data/agency-2.csv')));
  // A file that went from the operator's directory goes from the volume too.
  await rm(join(paths.givenFiles.dir, 'agency-1.csv'));
  await setUp(2, paths);
  t.not(await readFile(join(paths.outputs('agency1'), 'agency-1.csv'), 'utf8'), 'Ana,Pérez,30111222,1990-01-02,7574\n');
});

rootTest("an operator's PKI made for fewer agencies is named, file and fix", async (t) => {
  const { paths } = await directories(t);
  await makePkiDirectory({ dir: paths.givenPki.dir, agencies: 1, hosts: ['server'], days: 1, caDays: 2, force: false });
  await t.throwsAsync(setUp(2, paths), {
    message: 'setup: .data/pki/agency-2.crt is missing: the PKI must hold it (lottery-pki --agencies N makes agency-1..N)',
  });
});

test('a file the setup cannot read is told with the fix: the owner and mode for a key, the mode for a certificate', (t) => {
  t.is(
    unreadableMessage('.data/pki/agency-3.key', 'EACCES'),
    'setup: cannot read .data/pki/agency-3.key (EACCES): the containers run as uid 1000; on the host: chown 1000:1000 .data/pki/agency-3.key && chmod 0600 .data/pki/agency-3.key',
  );
  t.is(
    unreadableMessage('.data/pki/ca.crt', 'EACCES'),
    'setup: cannot read .data/pki/ca.crt (EACCES): the containers run as uid 1000; on the host: chmod 0644 .data/pki/ca.crt',
  );
});
