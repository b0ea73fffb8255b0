// The agency's connection attempt ends with all its clocks: a connect that
// times out before the server took it (its host name not yet known to a
// DNS server that does not answer, as Docker's for a container not started
// yet) leaves nothing running, so the agency exits once its work is done,
// not at the end of a handshake wait that never began. Serial: each test
// counts the timers the process holds.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { LookupFunction } from 'node:net';
import { join } from 'node:path';
import { ServerConnection, TLS_HANDSHAKE_WAIT_MS } from '../src/agency/server-connection.ts';
import { ClientFailure, ConnectionError } from '../src/errors.ts';
import { clientTlsFilesIn, makePkiIn } from './helpers/pki-fixtures.ts';
import { tempDir, within } from './helpers/lottery-fixtures.ts';

/** A host name whose lookup never answers. */
const silentDns: LookupFunction = () => undefined;

const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

async function failure(connecting: Promise<ServerConnection>): Promise<ConnectionError> {
  const outcome = await within(
    connecting.then(
      () => new Error('connected'),
      (error: Error) => error,
    ),
    'the connect giving up',
  );
  if (!(outcome instanceof ConnectionError)) throw outcome;
  return outcome;
}

test.serial('a TLS connect the server never took gives up at its connect timeout and leaves no clock running', async (t) => {
  const files = await clientTlsFilesIn(await makePkiIn(join(await tempDir(t), 'pki'), { agencies: 1 }), 'agency-1');
  const before = timers();
  const error = await failure(ServerConnection.connect('front-end.invalid', 12345, 100, files, TLS_HANDSHAKE_WAIT_MS, silentDns));
  t.is(error.code, ClientFailure.CONNECT_TIMEOUT);
  t.regex(error.message, /no answer from front-end\.invalid:12345 within 0\.1 s/);
  t.is(timers(), before, 'the handshake wait, which never began, is not left running');
});

test.serial('a program whose TLS connect timed out ends at once, not at the end of the handshake wait', async (t) => {
  const files = await clientTlsFilesIn(await makePkiIn(join(await tempDir(t), 'pki'), { agencies: 1 }), 'agency-1');
  const script = `
    const { ServerConnection } = await import(${JSON.stringify(new URL('../src/agency/server-connection.ts', import.meta.url).href)});
    const files = JSON.parse(process.argv[1]);
    await ServerConnection.connect('front-end.invalid', 12345, 100, files, undefined, () => undefined).catch((error) => console.log(error.code));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(files)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const started = performance.now();
  // Bounded well below the handshake wait of 90 s: a clock left running would hold the program that long.
  const [code] = await within(once(child, 'exit'), 'the program ending', 30_000);
  const seconds = (performance.now() - started) / 1000;
  t.is(code, 0);
  t.is(output.trim(), ClientFailure.CONNECT_TIMEOUT);
  t.true(seconds < TLS_HANDSHAKE_WAIT_MS / 1000 / 3, `ended after ${seconds.toFixed(1)} s`);
});
