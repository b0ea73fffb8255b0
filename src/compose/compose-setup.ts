// The Compose file's one-shot `setup` service: it runs before the server and
// gives each service what it reads, so that `up` works from a fresh clone
// with no step before it.
//
// It runs as root in the container (so an operator's keys need no chown on
// the host) with no network, and for each service fills that service's own
// volume with only its files, owned by the programs' user (1000:1000), keys
// 0600: the server gets the CA certificate, its certificate and key and the
// monitor's (its health check); agency K gets the CA certificate, its own
// certificate and key, and its bets file. No service sees another's key.
//
// Where the files come from, first match wins:
//   certificates  the operator's PKI ($LOTTERY_PKI, else .data/pki) when it
//                 holds ca.crt; else a PKI made here as lottery-pki makes it,
//                 kept in a volume of its own (so the CA is the same on the
//                 next `up`) that only this service mounts;
//   agency files  agency-K.csv in $LOTTERY_AGENCY_FILES (else .data/);
//                 else sample files made as `npm start` makes them.
// Every run copies afresh, so a file changed on the host is what runs next.

import { chmod, chown, copyFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { generateBets, writeAgencyFile } from '../bets/bet-generator.ts';
import { makePkiDirectory } from '../pki/pki-directory.ts';
import { SETUP_SERVERS } from './compose-file.ts';

/** The programs' user in the image (node:26-slim's `node`). */
export const PROGRAM_USER = { uid: 1000, gid: 1000 } as const;
/** Bets per sample file, as `npm start` makes them. */
export const SAMPLE_BETS = 2000;
/** The names the server is reached by: its service, and its own health check's. */
export const SERVER_HOSTS = ['server', 'localhost', '127.0.0.1'] as const;

export type SetupPaths = {
  /** The operator's PKI directory as mounted, and how the operator names it (for messages). */
  givenPki: { dir: string; shown: string };
  /** The operator's agency files' directory as mounted, and how the operator names it. */
  givenFiles: { dir: string; shown: string };
  /** This service's own volume: the PKI it made, the sample files it made. */
  state: string;
  /** Each service's volume, by service name (server, agency1, …). */
  outputs: (service: string) => string;
};

/** One file a service reads: where it is taken from, how the operator knows it, its name in the service's volume. */
type Input = { from: string; shown: string; name: string; secret: boolean };

const agencyFile = (id: number) => `agency-${id}.csv`;

/**
 * The line that says how to fix a file the setup cannot read. It reads as
 * root in the container, so this is a file root cannot read there: a
 * rootless engine, or a mode or owner that keeps even the engine out.
 */
export function unreadableMessage(shown: string, code: string): string {
  const key = shown.endsWith('.key');
  const fix = key ? `chown 1000:1000 ${shown} && chmod 0600 ${shown}` : `chmod 0644 ${shown}`;
  return `setup: cannot read ${shown} (${code}): the containers run as uid 1000; on the host: ${fix}`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}

/**
 * Fills every service's volume; returns the lines it says. Throws with the
 * one-line reason when it cannot. `servers`: the server services (several
 * front-ends in compose/scale.yaml), each given the server's files and named
 * in the certificates made here.
 */
export async function setUp(agencies: number, paths: SetupPaths, servers: readonly string[] = ['server']): Promise<string[]> {
  const hosts = [...servers, ...SERVER_HOSTS.filter((host) => host !== 'server')];
  const said: string[] = [];
  const ids = Array.from({ length: agencies }, (_, i) => i + 1);

  let pki = { dir: paths.givenPki.dir, shown: paths.givenPki.shown };
  if (await exists(join(pki.dir, 'ca.crt'))) {
    said.push(`setup: certificates from ${pki.shown}`);
  } else {
    pki = { dir: join(paths.state, 'pki'), shown: 'the certificates made here' };
    const outcome = await makePkiDirectory({ dir: pki.dir, agencies, hosts, days: 825, caDays: 3650, force: false });
    said.push(
      `setup: no ca.crt in ${paths.givenPki.shown}: ` +
        (outcome.made.length > 0 ? `made ${outcome.made.length} certificate files` : 'the certificates made before are kept') +
        ` for ${hosts.join(', ')} (the setup's volume)`,
    );
  }
  const fromPki = (name: string): Input => ({ from: join(pki.dir, name), shown: `${pki.shown}/${name}`, name, secret: name.endsWith('.key') });

  const samples = join(paths.state, 'samples');
  const files = new Map<number, Input>();
  for (const id of ids) {
    const given = join(paths.givenFiles.dir, agencyFile(id));
    if (await exists(given)) {
      files.set(id, { from: given, shown: `${paths.givenFiles.shown}/${agencyFile(id)}`, name: agencyFile(id), secret: false });
      continue;
    }
    const sample = join(samples, agencyFile(id));
    if (!(await exists(sample))) {
      await mkdir(samples, { recursive: true });
      // As `npm start` makes them: agency k has k winners spread through its file.
      const winnerRows = Array.from({ length: id }, (_, i) => Math.floor(((i + 0.5) * SAMPLE_BETS) / id));
      await writeAgencyFile(sample, generateBets({ seed: id, count: SAMPLE_BETS, winnerRows }));
    }
    said.push(`setup: no ${paths.givenFiles.shown}/${agencyFile(id)}: agency${id} uploads a sample file (${SAMPLE_BETS} bets, ${id === 1 ? '1 winner' : `${id} winners`})`);
    files.set(id, { from: sample, shown: `sample ${agencyFile(id)}`, name: agencyFile(id), secret: false });
  }

  const services: Array<[string, Input[]]> = [
    ...servers.map((server): [string, Input[]] => [server, ['ca.crt', 'server.crt', 'server.key', 'monitor.crt', 'monitor.key'].map(fromPki)]),
    ...ids.map((id): [string, Input[]] => [`agency${id}`, [...['ca.crt', `agency-${id}.crt`, `agency-${id}.key`].map(fromPki), files.get(id)!]]),
  ];
  for (const [service, inputs] of services) await fillVolume(paths.outputs(service), inputs);
  said.push(`setup: ready for ${servers.join(', ')} and ${agencies === 1 ? 'agency1' : `agency1..agency${agencies}`}`);
  return said;
}

/** Replaces what a service's volume holds with copies of its inputs, owned by the programs' user. */
async function fillVolume(dir: string, inputs: readonly Input[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
  for (const input of inputs) {
    const target = join(dir, input.name);
    await copyFile(input.from, target).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') throw new Error(`setup: ${input.shown} is missing: the PKI must hold it (lottery-pki --agencies N makes agency-1..N)`);
      if (error.code === 'EACCES' || error.code === 'EPERM') throw new Error(unreadableMessage(input.shown, error.code));
      throw error;
    });
    await chmod(target, input.secret ? 0o600 : 0o644);
    await chown(target, PROGRAM_USER.uid, PROGRAM_USER.gid);
  }
  await chmod(dir, 0o755);
}

// Run by the Compose file: `node src/compose/compose-setup.ts`, its paths and N in the environment.
if (import.meta.main) {
  const agencies = Number(process.env.LOTTERY_AGENCIES);
  const given = (variable: string, mounted: string, fallback: string) => {
    const host = process.env[variable] ?? '';
    // Unset, the project itself is mounted (it always exists), and the default sits inside it.
    return host === '' ? { dir: join(mounted, fallback), shown: fallback } : { dir: mounted, shown: `$${variable} (${host})` };
  };
  try {
    if (!Number.isSafeInteger(agencies) || agencies < 1) throw new Error(`setup: LOTTERY_AGENCIES must be a positive integer, got ${process.env.LOTTERY_AGENCIES}`);
    const said = await setUp(agencies, {
      givenPki: given('LOTTERY_PKI', '/given/pki', '.data/pki'),
      givenFiles: given('LOTTERY_AGENCY_FILES', '/given/files', '.data'),
      state: '/setup',
      outputs: (service) => `/inputs/${service}`,
    }, (process.env[SETUP_SERVERS] ?? 'server').split(','));
    for (const line of said) process.stdout.write(`${line}\n`);
  } catch (error) {
    process.stderr.write(`${(error as Error).message.startsWith('setup:') ? '' : 'setup: '}${(error as Error).message}\n`);
    process.exit(1);
  }
}
