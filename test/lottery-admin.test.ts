// lottery-admin status against a real server: what the status page shows,
// over the protocol, for the monitor alone when the server has TLS.
import test from 'ava';
import net from 'node:net';
import { once } from 'node:events';
import { startProgram } from '../src/harness/lottery-processes.ts';
import { agencyFiles, agencyFor, serverFor, tempDir, within } from './helpers/lottery-fixtures.ts';
import { clientTlsArgs, makePki, serverTlsArgs } from './helpers/pki-fixtures.ts';

async function admin(args: string[]) {
  const run = startProgram('lottery-admin', args);
  const code = await within(run.exited, 'lottery-admin');
  return { code, output: run.lines.join('\n') };
}

test('status says who the draw waits for, then the draw and its digest, as the status page does', async (t) => {
  const { files } = await agencyFiles(t, [{ count: 800, winnerRows: [5] }, { count: 600 }, { count: 10 }]);
  const server = await serverFor(t, await tempDir(t), ['--agencies', '3']);
  const at = ['--server', `127.0.0.1:${server.port}`];

  const first = agencyFor(t, 1, server.port, ['--data-file', files[0]]);
  await server.waitForLine(/action: agencia_finalizada \| result: success \| agencia: 1/);
  const waiting = await admin(['status', ...at]);
  t.is(waiting.code, 0, waiting.output);
  t.regex(waiting.output, /^agencies: {2}3 \(2 absent, 0 uploading, 1 finished\)$/m);
  t.regex(waiting.output, /^waiting: {3}2 of 3 not finished: agencies 2, 3$/m);
  t.regex(waiting.output, /^bets: {6}800 stored, \d+\/s over the last seconds$/m);
  t.regex(waiting.output, /^draw: {6}not yet$/m);

  const json = await admin(['status', ...at, '--json']);
  t.like(JSON.parse(json.output), {
    agencies: 3,
    counts: { absent: 2, uploading: 0, finished: 1 },
    waiting: [2, 3],
    bets: 800,
    drawn: false,
  });

  const rest = [2, 3].map((id) => agencyFor(t, id, server.port, ['--data-file', files[id - 1]]));
  await within(Promise.all([first.result, ...rest.map((agency) => agency.result)]), 'the agencies');
  const digest = /action: sorteo \| result: success .*\| digest: ([0-9a-f]{64})/.exec(server.lines.join('\n'))![1];
  const drawn = await admin(['status', ...at]);
  t.regex(drawn.output, /^waiting: {3}nobody: the draw is done$/m);
  t.regex(drawn.output, /^draw: {6}drawn, 1 winner$/m);
  t.true(drawn.output.includes(`digest:    ${digest}`));
});

test('with TLS only the monitor certificate is answered: an agency certificate is UNAUTHORIZED, exit 1', async (t) => {
  const pki = await makePki(t, { agencies: 1 });
  const server = await serverFor(t, await tempDir(t), ['--agencies', '1', ...serverTlsArgs(pki)]);
  const at = ['--server', `localhost:${server.port}`];
  const monitor = await admin(['status', ...at, ...clientTlsArgs(pki, 'monitor')]);
  t.is(monitor.code, 0, monitor.output);
  t.regex(monitor.output, /^waiting: {3}1 of 1 not finished: agency 1$/m);
  const agency = await admin(['status', ...at, ...clientTlsArgs(pki, 'agency-1')]);
  t.is(agency.code, 1);
  t.regex(agency.output, /UNAUTHORIZED: only the monitor certificate may ask STATUS/);
});

test('over TLS, a server that takes the connection and never answers is given up at --timeout, not at the long wait an agency gives a handshake', async (t) => {
  const pki = await makePki(t, { agencies: 1 });
  // Takes every connection and never says a word: no TLS handshake, as a server still starting or stuck.
  const held: net.Socket[] = [];
  const silent = net.createServer((socket) => held.push(socket)).listen(0, '127.0.0.1');
  t.teardown(() => {
    held.forEach((socket) => socket.destroy());
    silent.close();
  });
  await once(silent, 'listening');
  const { port } = silent.address() as net.AddressInfo;
  const started = performance.now();
  // Bounded well below the 90 s an agency waits for a handshake once the server has taken its connection.
  const run = startProgram('lottery-admin', [
    'status',
    '--server',
    `localhost:${port}`,
    '--timeout',
    '1',
    ...clientTlsArgs(pki, 'monitor'),
  ]);
  const code = await within(run.exited, 'lottery-admin', 30_000);
  t.is(code, 1);
  t.regex(run.lines.join('\n'), /no TLS handshake with localhost:\d+ within 1 s/);
  t.true(held.length >= 1, 'the server took the connection');
  t.true(performance.now() - started < 30_000);
});

test('lottery-admin lists its commands, and an unknown one is a usage error', async (t) => {
  const help = await admin(['--help']);
  t.is(help.code, 0);
  t.regex(help.output, /^ {2}status {4}where the lottery stands/m);
  const unknown = await admin(['stauts']);
  t.is(unknown.code, 2);
  t.regex(unknown.output, /lottery-admin: no command stauts; the commands are status/);
});
