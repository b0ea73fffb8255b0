// Mutual TLS through the real programs: agencies upload over TLS 1.3 with
// their own certificates, the certificate decides which agency a connection
// may speak for, and every way of getting TLS wrong is refused at the
// handshake with a line on the side that refused and a clear error on the
// agency, which stops at once instead of retrying. Serial: each test runs a
// server and several clients, and side by side they starve a small machine.
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProgram, startServer, winnersIn, type RunningServer } from '../src/harness/lottery-processes.ts';
import type { WireBet } from '../src/wire/messages.ts';
import {
  clientTlsArgs,
  clientTlsFilesIn,
  issueOutOfDate,
  makePki,
  makePkiIn,
  serverTlsArgs,
  serverTlsFilesIn,
} from './helpers/pki-fixtures.ts';
import { clientTlsOptions } from '../src/transport/client-tls.ts';
import {
  agencyFor,
  GUARD_MS,
  pollUntil,
  serverFor,
  sorted,
  storedRows,
  tempDir,
  within,
  writeAgencies,
  type AgencyInput,
} from './helpers/lottery-fixtures.ts';
import { serverTlsOptions, tlsTransport, type AcceptedConnection } from '../src/transport/server-transport.ts';
import { ServerConnection } from '../src/agency/server-connection.ts';
import { ClientFailure, ConnectionError, ConnectionRefused } from '../src/errors.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

// Most tests only read a PKI: they share two, made once for the file (the
// second a CA of its own). A test that changes what a PKI says, or needs
// other server names, makes its own.
let shared: { dir: string; pki: string; otherPki: string };
test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-tls-'));
  const [pki, otherPki] = await Promise.all([makePkiIn(join(dir, 'pki'), { agencies: 2 }), makePkiIn(join(dir, 'other'), { agencies: 1 })]);
  shared = { dir, pki, otherPki };
});
test.after.always(async () => {
  if (refusing !== undefined) await (await refusing).server.stop();
  if (shared !== undefined) await rm(shared.dir, { recursive: true, force: true });
});

/**
 * For the tests whose agency is refused before it stores a bet: one TLS
 * server for two agencies with the shared PKI, started by the first of them,
 * and files for its agencies. Each test reads only the lines logged since it began.
 */
let refusing: Promise<{ server: RunningServer; inputs: AgencyInput[] }> | undefined;
async function refusingLottery() {
  refusing ??= (async () => {
    const dir = join(shared.dir, 'refusing');
    await mkdir(dir);
    const inputs = await writeAgencies(dir, [
      { count: 150, winnerRows: [7] },
      { count: 150, winnerRows: [7] },
    ]);
    // Each of its tests looks for its own refusal's line: none may be counted instead.
    const server = await startServer(
      ['--data-dir', join(dir, 'server'), '--agencies', '2', '--log-refusals', '1000', ...serverTlsArgs(shared.pki)],
      {
        startTimeoutMs: GUARD_MS,
      },
    );
    return { server, inputs };
  })();
  const lottery = await refusing;
  const since = lottery.server.lines.length;
  /** Resolves once the server has logged a line matching `pattern` since the test began. */
  const logs = (pattern: RegExp) =>
    lottery.server.waitUntil((lines) => lines.slice(since).some((line) => pattern.test(line)), `a line matching ${pattern}`, {
      timeoutMs: GUARD_MS,
    });
  return { ...lottery, logs };
}

/** A TLS server for `agencies` agencies with `pki`'s certificates, and generated agency files. */
async function tlsLottery(t: ExecutionContext, pki: string, agencies = 1, serverArgs: string[] = []) {
  const dir = await tempDir(t);
  const inputs = await writeAgencies(
    dir,
    Array.from({ length: agencies }, () => ({ count: 150, winnerRows: [7] })),
  );
  const dataDir = join(dir, 'server');
  const server = await serverFor(t, dataDir, ['--agencies', String(agencies), ...serverTlsArgs(pki), ...serverArgs]);
  return { dir, dataDir, server, inputs };
}

/** Runs one agency to its end; returns its exit code and output. */
async function runAgency(t: ExecutionContext, id: number, port: number, args: string[]) {
  const run = await agencyFor(t, id, port, ['--retry-timeout', '60', ...args]).result;
  return { ...run, output: run.lines.join('\n') };
}

test.serial('agencies upload over mutual TLS, get their winners, and the monitor may PING', async (t) => {
  const { pki } = shared;
  const { dataDir, server, inputs } = await tlsLottery(t, pki, 2);
  t.true(server.lines.some((line) => /action: listen \| result: success .*\| tls: on/.test(line)));
  t.false(
    server.lines.some((line) => /action: transport \| result: success \| tls: off/.test(line)),
    'no plaintext warning when TLS is on',
  );
  const runs = await Promise.all(
    inputs.map((input) => runAgency(t, input.id, server.port, ['--data-file', input.file, ...clientTlsArgs(pki, `agency-${input.id}`)])),
  );
  runs.forEach((run, i) => {
    t.is(run.code, 0, run.output);
    t.deepEqual(sorted(run.winners ?? []), inputs[i].winners);
  });
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted(inputs.flatMap((input) => input.rows)));

  const ping = startProgram('lottery-ping', ['--server', `127.0.0.1:${server.port}`], {
    env: { ...process.env, CLI_TLS_CA: join(pki, 'ca.crt'), CLI_TLS_CERT: join(pki, 'monitor.crt'), CLI_TLS_KEY: join(pki, 'monitor.key') },
  });
  t.is(await ping.exited, 0, ping.lines.join('\n'));
  t.regex(ping.lines.join('\n'), /answered PONG/);
});

test.serial("an agency using agency 1's certificate with --id 2 is refused UNAUTHORIZED, and the server logs it", async (t) => {
  const { pki } = shared;
  const { server, inputs, logs } = await refusingLottery();
  const run = await runAgency(t, 2, server.port, ['--data-file', inputs[1].file, ...clientTlsArgs(pki, 'agency-1')]);
  t.is(run.code, 1, run.output);
  t.regex(run.output, /UNAUTHORIZED: this connection's certificate is agency-1's: it cannot speak for agency 2/);
  t.false(/reintento_ms/.test(run.output), 'the agency does not retry');
  await logs(/action: conexion \| result: fail .*\| code: UNAUTHORIZED \| error: this connection's certificate is agency-1's/);
});

test.serial('the monitor certificate may not say HELLO', async (t) => {
  const { pki } = shared;
  const { server, inputs, logs } = await refusingLottery();
  const run = await runAgency(t, 1, server.port, ['--data-file', inputs[0].file, ...clientTlsArgs(pki, 'monitor')]);
  t.is(run.code, 1, run.output);
  t.regex(run.output, /UNAUTHORIZED: the monitor certificate may only PING, ask STATUS and CLOSE sales, not send HELLO/);
  await logs(/code: UNAUTHORIZED \| error: the monitor certificate may only PING/);
});

test.serial('an agency without a certificate is refused at the handshake and says it needs one', async (t) => {
  const { pki } = shared;
  const { server, inputs, logs } = await refusingLottery();
  const run = await runAgency(t, 1, server.port, ['--data-file', inputs[0].file, ...clientTlsArgs(pki)]);
  t.is(run.code, 1, run.output);
  t.regex(run.output, /UNAUTHORIZED: this server refused the client certificate: no client certificate was sent/);
  t.false(/reintento_ms/.test(run.output), 'the agency does not retry');
  await logs(/code: TLS_HANDSHAKE \| error: no client certificate was sent/);
});

test.serial('an agency whose certificate comes from another CA is refused at the handshake', async (t) => {
  const { pki, otherPki: other } = shared;
  const { server, inputs, logs } = await refusingLottery();
  const run = await runAgency(t, 1, server.port, ['--data-file', inputs[0].file, ...clientTlsArgs(pki, 'agency-1', other)]);
  t.is(run.code, 1, run.output);
  t.regex(run.output, /UNAUTHORIZED: this server refused the client certificate: the certificate CN=agency-1: it was signed by another CA/);
  t.false(/reintento_ms/.test(run.output));
  await logs(/code: TLS_HANDSHAKE \| error: the certificate CN=agency-1: it was signed by another CA/);
});

for (const [label, validity] of [
  ['expired', { notBefore: new Date(Date.now() - 30 * DAY_MS), notAfter: new Date(Date.now() - DAY_MS) }],
  ['not yet valid', { notBefore: new Date(Date.now() + DAY_MS), notAfter: new Date(Date.now() + 30 * DAY_MS) }],
] as const) {
  test.serial(`an agency whose certificate is ${label} is refused at the handshake`, async (t) => {
    const { pki } = shared;
    const name = `agency-1-${label.replaceAll(' ', '-')}`;
    await issueOutOfDate(pki, name, 'agency-1', validity);
    const { server, inputs, logs } = await refusingLottery();
    const run = await runAgency(t, 1, server.port, ['--data-file', inputs[0].file, ...clientTlsArgs(pki, name)]);
    t.is(run.code, 1, run.output);
    t.regex(
      run.output,
      label === 'expired' ? /UNAUTHORIZED: .*CN=agency-1: it expired on / : /UNAUTHORIZED: .*CN=agency-1: it is not valid yet/,
    );
    t.false(/reintento_ms/.test(run.output));
    await logs(
      label === 'expired'
        ? /code: TLS_HANDSHAKE \| error: .*it expired on .*CERT_HAS_EXPIRED/
        : /code: TLS_HANDSHAKE \| error: .*not valid yet.*CERT_NOT_YET_VALID/,
    );
  });
}

for (const commonName of ['agency-01', 'Agency-2', 'agency-']) {
  test.serial(
    `a certificate from the lottery's CA named ${commonName} is answered UNAUTHORIZED with why, and the agency stops`,
    async (t) => {
      const { pki } = shared;
      const name = `odd-${commonName}`;
      await issueOutOfDate(pki, name, commonName, { notBefore: new Date(Date.now() - DAY_MS), notAfter: new Date(Date.now() + DAY_MS) });
      const { server, inputs, logs } = await refusingLottery();
      const run = await runAgency(t, 1, server.port, ['--data-file', inputs[0].file, ...clientTlsArgs(pki, name)]);
      t.is(run.code, 1, run.output);
      t.regex(
        run.output,
        new RegExp(
          `UNAUTHORIZED: this server refused the client certificate: the client certificate's name "${commonName}" is neither agency-K`,
        ),
      );
      t.false(/reintento_ms/.test(run.output), 'no retrying: another try would be refused alike');
      await logs(new RegExp(`code: UNAUTHORIZED \\| error: the client certificate's name "${commonName}"`));
    },
  );
}

test.serial('a revoked agency certificate is refused when the server has the CRL', async (t) => {
  const pki = await makePki(t, { agencies: 2 }); // its own: revoking changes its CRL
  const revoke = startProgram('lottery-pki', ['--out', pki, '--revoke', '2']);
  t.is(await revoke.exited, 0, revoke.lines.join('\n'));
  const { server, inputs } = await tlsLottery(t, pki, 2, ['--tls-crl', join(pki, 'ca.crl')]);
  const refused = await runAgency(t, 2, server.port, ['--data-file', inputs[1].file, ...clientTlsArgs(pki, 'agency-2')]);
  t.is(refused.code, 1, refused.output);
  t.regex(refused.output, /UNAUTHORIZED: .*CN=agency-2: it has been revoked/);
  await server.waitForLine(/code: TLS_HANDSHAKE \| error: .*it has been revoked \(CERT_REVOKED\)/);
  const ping = startProgram('lottery-ping', ['--server', `127.0.0.1:${server.port}`, ...clientTlsArgs(pki, 'agency-1')]);
  t.is(await ping.exited, 0, `agency 1, not revoked, still gets in:\n${ping.lines.join('\n')}`);
});

test.serial('an agency refuses a server whose certificate is not made for the name it connects to', async (t) => {
  const pki = await makePki(t, { agencies: 1, hosts: ['elsewhere.example'] });
  const { server, inputs } = await tlsLottery(t, pki, 1);
  const run = await runAgency(t, 1, server.port, ['--data-file', inputs[0].file, ...clientTlsArgs(pki, 'agency-1')]);
  t.is(run.code, 1, run.output);
  t.regex(run.output, /the server at 127\.0\.0\.1:\d+ is not trusted: .*127\.0\.0\.1/);
  t.false(/reintento_ms/.test(run.output));
});

test.serial('an agency refuses a server whose certificate comes from another CA', async (t) => {
  const { pki, otherPki: other } = shared;
  const { server, inputs, logs } = await refusingLottery();
  const run = await runAgency(t, 1, server.port, ['--data-file', inputs[0].file, ...clientTlsArgs(other, 'agency-1', pki)]);
  t.is(run.code, 1, run.output);
  t.regex(run.output, /is not trusted/);
});

test.serial('a plaintext agency on a TLS server is told to use TLS', async (t) => {
  const { pki } = shared;
  const { server, inputs, logs } = await refusingLottery();
  const run = await runAgency(t, 1, server.port, ['--data-file', inputs[0].file]);
  t.is(run.code, 1, run.output);
  t.regex(run.output, /TLS_REQUIRED: this server accepts only TLS with a client certificate/);
  t.false(/reintento_ms/.test(run.output));
  await logs(/code: TLS_REQUIRED \| error: a plaintext client on this TLS server/);
});

test.serial('a TLS agency on a plaintext server is told the server does not speak TLS', async (t) => {
  const { pki } = shared;
  const dir = await tempDir(t);
  const [input] = await writeAgencies(dir, [{ count: 10 }]);
  const server = await serverFor(t, join(dir, 'server'), ['--agencies', '1']);
  t.true(
    server.lines.some((line) =>
      /WARNING +action: transport \| result: success \| tls: off \| warning: plaintext: agencies are not authenticated/.test(line),
    ),
    'the plaintext server warns once at start',
  );
  const run = await runAgency(t, 1, server.port, ['--data-file', input.file, ...clientTlsArgs(pki, 'agency-1')]);
  t.is(run.code, 1, run.output);
  t.regex(run.output, /does not speak TLS/);
  t.false(/reintento_ms/.test(run.output));
  await server.waitForLine(/code: TLS_NOT_ENABLED \| error: a TLS ClientHello on this plaintext server/);
});

test.serial(
  'the server started with its certificate and the CA swapped exits 2 naming --tls-ca; one whose certificate does not name its host warns',
  async (t) => {
    const { pki } = shared;
    const dir = await tempDir(t);
    const swapped = startProgram('lottery-server', [
      '--data-dir',
      join(dir, 'swapped'),
      '--tls-ca',
      join(pki, 'server.crt'),
      '--tls-cert',
      join(pki, 'ca.crt'),
      '--tls-key',
      join(pki, 'ca.key'),
    ]);
    t.is(await swapped.exited, 2);
    t.regex(swapped.lines[0], /^lottery-server: --tls-ca \(LOTTERY_TLS_CA\): \S+\/server\.crt is not a CA certificate/);
    // The certificate names localhost and 127.0.0.1, not 127.0.0.2: the warning comes before the server listens.
    const server = startProgram('lottery-server', [
      '--host',
      '127.0.0.2',
      '--port',
      '0',
      '--data-dir',
      join(dir, 'server'),
      ...serverTlsArgs(pki),
    ]);
    t.teardown(() => server.child.kill('SIGKILL'));
    await server.waitForLine(
      /WARNING +action: transport \| result: success \| tls: on \| warning: the server's certificate \S+ does not name 127\.0\.0\.2, the host it listens on/,
    );
    await server.waitForLine(/action: listen \| result: success/);
    server.child.kill('SIGTERM');
    t.is(await server.exited, 0);
  },
);

test.serial('TLS flags must come together and name readable files, or the program stops naming the flag', async (t) => {
  const { pki } = shared;
  const server = startProgram('lottery-server', ['--tls-ca', join(pki, 'ca.crt')]);
  t.is(await server.exited, 2);
  t.regex(server.lines.join('\n'), /--tls-cert \(LOTTERY_TLS_CERT\): is needed with --tls-ca/);
  const agency = startProgram('lottery-agency', ['--id', '1', '--tls-ca', join(pki, 'nothing.crt')]);
  t.is(await agency.exited, 2);
  t.regex(agency.lines.join('\n'), /--tls-ca \(CLI_TLS_CA\): cannot read .*nothing\.crt: ENOENT/);
  const mismatched = startProgram('lottery-agency', [
    '--id',
    '1',
    ...clientTlsArgs(pki),
    '--tls-cert',
    join(pki, 'agency-1.crt'),
    '--tls-key',
    join(pki, 'monitor.key'),
  ]);
  t.is(await mismatched.exited, 2);
  t.regex(
    mismatched.lines.join('\n'),
    /^lottery-agency: --tls-key \(CLI_TLS_KEY\): \S+\/monitor\.key is not the key of \S+\/agency-1\.crt/,
  );
});

test.serial("a CRL not signed by the server's CA stops the server at start, naming --tls-crl and the file", async (t) => {
  const other = await makePki(t, { agencies: 1 });
  const revoke = startProgram('lottery-pki', ['--out', other, '--revoke', '1']);
  t.is(await revoke.exited, 0, revoke.lines.join('\n'));
  const dir = await tempDir(t);
  const server = startProgram('lottery-server', ['--data-dir', dir, ...serverTlsArgs(shared.pki), '--tls-crl', join(other, 'ca.crl')]);
  t.is(await within(server.exited, 'the server'), 2);
  const said = server.lines.join('\n');
  t.regex(said, /--tls-crl \(LOTTERY_TLS_CRL\): .*ca\.crl was not signed by the CA in --tls-ca/);
  t.false(/action: listen/.test(said));
});

/** A relay on 127.0.0.1 to `port` that keeps every byte it passes, both ways. */
async function capturingRelay(t: ExecutionContext, port: number) {
  const captured: Buffer[] = [];
  const relay = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('data', (chunk: Buffer) => {
        captured.push(chunk);
        to.write(chunk);
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
    }
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => relay.close(() => resolve())));
  return { port: (relay.address() as net.AddressInfo).port, bytes: () => Buffer.concat(captured) };
}

/** The DNIs and names of `bets` found in `bytes`. Names under 6 bytes are left out: ciphertext holds short strings by chance. */
function secretsIn(bytes: Buffer, bets: readonly WireBet[]): string[] {
  const secrets = new Set(
    bets.flatMap((bet) => [String(bet[0]), String(bet[1]), String(bet[2])]).filter((text) => Buffer.byteLength(text) >= 6),
  );
  return [...secrets].filter((secret) => bytes.includes(Buffer.from(secret)));
}

test.serial('between an agency and a TLS server none of its DNIs or names cross the network readable', async (t) => {
  const { pki } = shared;
  const { server, inputs } = await tlsLottery(t, pki, 1);
  const relay = await capturingRelay(t, server.port);
  const run = await runAgency(t, 1, relay.port, ['--data-file', inputs[0].file, ...clientTlsArgs(pki, 'agency-1')]);
  t.is(run.code, 0, run.output);
  const bytes = relay.bytes();
  t.true(bytes.length > 150 * 20, `the relay saw the upload (${bytes.length} bytes)`);
  t.deepEqual(secretsIn(bytes, inputs[0].bets), []);

  // The same relay and check on a plaintext server find them: the check can fail.
  const dir = await tempDir(t);
  const [plainInput] = await writeAgencies(dir, [{ count: 150 }], 2);
  const plain = await serverFor(t, join(dir, 'server'), ['--agencies', '1']);
  const plainRelay = await capturingRelay(t, plain.port);
  const plainRun = await runAgency(t, 1, plainRelay.port, ['--data-file', plainInput.file]);
  t.is(plainRun.code, 0, plainRun.output);
  t.true(secretsIn(plainRelay.bytes(), plainInput.bets).length > 150, 'in plaintext every DNI is there to read');
});

test.serial(
  'a flood of connections from one address is cut at --max-unauthenticated-per-address, and an agency from another still gets in',
  async (t) => {
    const { pki } = shared;
    const LIMIT = 8;
    const EXTRA = 40;
    const { server, inputs } = await tlsLottery(t, pki, 1, [
      '--max-unauthenticated-per-address',
      String(LIMIT),
      '--handshake-timeout',
      '300',
    ]);
    const flood: net.Socket[] = [];
    let closedByServer = 0;
    const allExtraClosed = Promise.withResolvers<void>();
    const open = async () => {
      const socket = net.connect({ host: '127.0.0.1', port: server.port, localAddress: '127.0.0.2' });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        if (++closedByServer === EXTRA) allExtraClosed.resolve();
      });
      socket.resume();
      flood.push(socket);
      await once(socket, 'connect');
    };
    t.teardown(() => flood.forEach((socket) => socket.destroy()));
    for (let i = 0; i < LIMIT; i++) await open();
    await Promise.all(Array.from({ length: EXTRA }, open));

    const run = await runAgency(t, 1, server.port, ['--data-file', inputs[0].file, ...clientTlsArgs(pki, 'agency-1')]);
    t.is(run.code, 0, `the agency from 127.0.0.1 completes while 127.0.0.2 holds its limit:\n${run.output}`);

    // Every refusal is accounted for in the log, most of them in a count rather than a line each.
    const refusals = () => {
      const lines = server.lines.filter((line) =>
        /action: conexion \| result: fail .*code: TOO_MANY_CONNECTIONS|action: conexion \| result: fail \| suprimidas/.test(line),
      );
      const written = lines.filter((line) => /peer: 127\.0\.0\.2/.test(line)).length;
      const counted = lines.reduce((sum, line) => sum + Number(/suprimidas: (\d+)/.exec(line)?.[1] ?? 0), 0);
      return { lines: lines.length, total: written + counted };
    };
    await server.waitUntil(() => refusals().total >= EXTRA, `a log of ${EXTRA} refusals`, { timeoutMs: GUARD_MS });
    t.is(refusals().total, EXTRA);
    t.true(refusals().lines < EXTRA, `${refusals().lines} lines for ${EXTRA} refusals`);
    t.regex(
      server.lines.find((line) => /TOO_MANY_CONNECTIONS/.test(line)) ?? '',
      /error: 8 connections from 127\.0\.0\.2 have not said HELLO yet, the limit per address/,
    );
    await within(allExtraClosed.promise, `the server closing ${EXTRA} connections`);
    t.is(closedByServer, EXTRA, 'the connections within the limit are held, the others closed');
  },
);

/** The first flight of a real TLS client: a ClientHello to send and then fall silent after. */
async function clientHello(t: ExecutionContext, pki: string): Promise<Buffer> {
  const sink = net.createServer();
  t.teardown(() => sink.close());
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const captured = once(sink, 'connection').then(async ([socket]) => {
    const [hello] = (await once(socket as net.Socket, 'data')) as [Buffer];
    (socket as net.Socket).destroy();
    return hello;
  });
  const { port } = sink.address() as net.AddressInfo;
  const client = tls.connect(clientTlsOptions('127.0.0.1', port, await clientTlsFilesIn(pki, 'agency-1')));
  client.on('error', () => undefined);
  return captured;
}

/**
 * Connections from 127.0.0.2 that send a ClientHello and then nothing, each with the time the server closed it.
 * `openedAt` is taken before the connection is asked for, so it is never later than the moment the server
 * starts its clock: taken at 'connect', a busy test process could see that event after the server's clock
 * had started, and a server that kept its timeout exactly would seem to have cut it short.
 */
async function stalledHandshakes(t: ExecutionContext, port: number, hello: Buffer, count: number) {
  const stalled = await Promise.all(
    Array.from({ length: count }, async () => {
      const openedAt = performance.now();
      const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
      const entry = { socket, openedAt, closedAt: undefined as number | undefined, closed: once(socket, 'close') };
      socket.on('error', () => undefined);
      socket.on('close', () => (entry.closedAt = performance.now()));
      socket.resume();
      await once(socket, 'connect');
      socket.write(hello);
      return entry;
    }),
  );
  t.teardown(() => stalled.forEach(({ socket }) => socket.destroy()));
  return stalled;
}

test.serial('stalled TLS handshakes from one address hold at most a quarter of the turns: an agency from another gets in', async (t) => {
  const { pki } = shared;
  const { server, inputs } = await tlsLottery(t, pki, 1, ['--workers', '1', '--max-handshakes', '4', '--handshake-timeout', '300']);
  const stalled = await stalledHandshakes(t, server.port, await clientHello(t, pki), 12);

  const run = await runAgency(t, 1, server.port, ['--data-file', inputs[0].file, ...clientTlsArgs(pki, 'agency-1')]);
  t.is(run.code, 0, run.output);
  t.false(/reintento_ms/.test(run.output), `the agency got its turn at once, without retrying:\n${run.output}`);
  t.deepEqual(
    stalled.filter(({ closedAt }) => closedAt !== undefined),
    [],
    'the stalled handshakes are still waiting: the agency did not get in because they were cut',
  );
});

test.serial(
  'a stalled TLS handshake is cut at --handshake-timeout and its turn passes on; the wait for a turn does not count against it',
  async (t) => {
    const { pki } = shared;
    const TIMEOUT_MS = 500;
    const { server, inputs } = await tlsLottery(t, pki, 1, [
      '--workers',
      '1',
      '--max-handshakes',
      '1',
      '--handshake-timeout',
      String(TIMEOUT_MS / 1000),
    ]);
    const [first, second] = await stalledHandshakes(t, server.port, await clientHello(t, pki), 2);
    await within(Promise.all([first.closed, second.closed]), 'the server cutting both stalled handshakes');

    const [earlier, later] = [first, second].sort((a, b) => a.closedAt! - b.closedAt!);
    t.true(
      earlier.closedAt! - earlier.openedAt >= TIMEOUT_MS,
      `the first to get the turn had the whole timeout: cut ${Math.round(earlier.closedAt! - earlier.openedAt)} ms after it connected`,
    );
    // The other waited a whole timeout in line, then had its own in its turn (less the moment its ClientHello took).
    t.true(
      later.closedAt! - later.openedAt >= 1.5 * TIMEOUT_MS,
      `the second was cut ${Math.round(later.closedAt! - later.openedAt)} ms after it connected`,
    );
    // The server logs each cut as it closes the connection: the line may come after the close. Both
    // were cut in their turn, neither told the server was busy.
    const cut = () =>
      server.lines.filter((line) => /peer: 127\.0\.0\.2.*code: TIMEOUT \| error: no TLS handshake within the handshake timeout/.test(line));
    await server.waitUntil(() => cut().length >= 2, 'a line for each cut', { timeoutMs: GUARD_MS });
    t.is(cut().length, 2, server.lines.join('\n'));
    t.false(
      server.lines.some((line) => /TOO_MANY_CONNECTIONS/.test(line)),
      server.lines.join('\n'),
    );

    const run = await runAgency(t, 1, server.port, ['--data-file', inputs[0].file, ...clientTlsArgs(pki, 'agency-1')]);
    t.is(run.code, 0, run.output);
  },
);

test.serial('a client that leaves while it waits for a handshake turn, or sends too much, is dropped at once without a turn', async (t) => {
  const { pki } = shared;
  const transport = tlsTransport(await serverTlsFilesIn(pki), 1);
  const stopped = new AbortController();
  t.teardown(() => stopped.abort());
  const accepted: Promise<AcceptedConnection>[] = [];
  /** Resolves each time the transport has read a connection's first bytes, its ClientHello. */
  let helloRead = Promise.withResolvers<void>();
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    const attempt = transport.accept(socket, { timeoutMs: 300_000, queueTimeoutMs: 300_000, stopped: stopped.signal });
    attempt.catch(() => undefined);
    accepted.push(attempt);
    // After the transport's own listener, which takes the bytes; this one only learns they came.
    socket.once('readable', () => helloRead.resolve());
  });
  t.teardown(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const hello = await clientHello(t, pki);
  /** Connects, sends the ClientHello, and waits until the transport has read it: the connection then waits for a turn. */
  const connect = async () => {
    helloRead = Promise.withResolvers<void>();
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    socket.resume();
    t.teardown(() => socket.destroy());
    await once(socket, 'connect');
    socket.write(hello);
    await within(helloRead.promise, 'the transport reading a ClientHello', 10_000);
    return socket;
  };

  // The only turn: a handshake that stalls after its ClientHello, for as long as the test runs.
  await connect();
  const leaver = await connect();
  const flooder = await connect();
  leaver.end();
  /** How the transport refused connection `index`, within a guard. */
  const refusal = (index: number, what: string) =>
    within(
      accepted[index].then(
        () => new Error(`${what} was accepted`),
        (error: Error) => error,
      ),
      what,
      10_000,
    );
  const left = await refusal(1, 'the client that left');
  t.true(left instanceof ConnectionRefused);
  t.regex(left.message, /the client left while it waited for a TLS handshake turn/);

  flooder.write(Buffer.alloc(70 * 1024, 0x16));
  const flooded = await refusal(2, 'the client that sent too much');
  t.regex(flooded.message, /more than 65536 bytes before the TLS handshake began/);
});

type Timeouts = { timeoutMs: number; queueTimeoutMs: number };
const LONG: Timeouts = { timeoutMs: 300_000, queueTimeoutMs: 300_000 };

/** An in-process TLS transport on a listening socket; `timeoutsOf(i)` gives connection i its handshake and queue timeouts. */
async function transportOnPort(t: ExecutionContext, maxHandshakes: number, maxBytesWaiting?: number, timeoutsOf = (_i: number) => LONG) {
  const transport = tlsTransport(await serverTlsFilesIn(shared.pki), maxHandshakes, maxBytesWaiting);
  const stopped = new AbortController();
  t.teardown(() => stopped.abort());
  const accepted: Promise<AcceptedConnection>[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    const attempt = transport.accept(socket, { ...timeoutsOf(accepted.length), stopped: stopped.signal });
    attempt.catch(() => undefined);
    accepted.push(attempt);
  });
  t.teardown(() => server.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  /** A raw connection with every byte the server sends it gathered, and its close awaited. */
  const connect = async (bytes: Buffer) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const received: Buffer[] = [];
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    t.teardown(() => socket.destroy());
    await once(socket, 'connect');
    socket.write(bytes);
    return { socket, received, closed: once(socket, 'close').then(() => Buffer.concat(received)) };
  };
  /** How the transport ended connection `index`: its error, within a guard. */
  const refusal = (index: number, what: string) =>
    within(
      (async () => {
        while (accepted[index] === undefined) await new Promise((resolve) => setImmediate(resolve));
        return accepted[index].then(
          () => new Error(`${what} was accepted`),
          (error: Error) => error,
        );
      })(),
      what,
      10_000,
    );
  return { port, connect, refusal, accepted };
}

/** The TLS alert, sent in the clear, that a TLS client reads as "busy, try again": fatal user_canceled. */
const BUSY_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 90]);

test.serial('a connection still waiting for a handshake turn at its queue timeout is told, in TLS, that the server is busy', async (t) => {
  const hello = await clientHello(t, shared.pki);
  // The only turn goes to a handshake that stalls with all the time in the world; the second may wait 300 ms in line.
  const { connect, refusal } = await transportOnPort(t, 1, undefined, (i) => (i === 0 ? LONG : { ...LONG, queueTimeoutMs: 300 }));
  await connect(hello);
  const waiter = await connect(hello);
  const refused = await refusal(1, 'the connection that waited');
  t.true(refused instanceof ConnectionRefused);
  t.is((refused as ConnectionRefused).code, 'TOO_MANY_CONNECTIONS');
  t.regex(refused.message, /no TLS handshake turn within the queue timeout of 0\.3 s/);
  t.deepEqual(await within(waiter.closed, 'the refused connection closing', 10_000), BUSY_ALERT);
});

test.serial('a connection that waited in line past its handshake timeout gets its turn and then the whole timeout', async (t) => {
  const hello = await clientHello(t, shared.pki);
  // The only turn goes to a handshake that stalls until its 2 s run out; the agency behind it has a handshake timeout of 1 s.
  const { port, connect, refusal, accepted } = await transportOnPort(t, 1, undefined, (i) =>
    i === 0 ? { ...LONG, timeoutMs: 2000 } : { ...LONG, timeoutMs: 1000 },
  );
  const staller = await connect(hello);
  // The server's first flight: the staller holds the turn.
  await within(once(staller.socket, 'data'), 'the ServerHello', 10_000);
  const agency = tls.connect(clientTlsOptions('127.0.0.1', port, await clientTlsFilesIn(shared.pki, 'agency-1')));
  agency.on('error', () => undefined);
  t.teardown(() => agency.destroy());
  const cut = await refusal(0, 'the stalled handshake');
  t.regex(cut.message, /no TLS handshake within the handshake timeout/);
  const admitted = await within(
    (async () => {
      while (accepted[1] === undefined) await new Promise((resolve) => setImmediate(resolve));
      return accepted[1];
    })(),
    'the agency in line',
    10_000,
  );
  t.deepEqual(admitted.identity, { kind: 'agency', agency: 1 });
  t.true(admitted.spentMs < 1000, `${admitted.spentMs} ms of the handshake timeout used, the wait in line not counted`);
});

test.serial('a connection that sends one byte of a ClientHello and stalls never takes a turn from a whole one', async (t) => {
  const hello = await clientHello(t, shared.pki);
  const { connect, refusal } = await transportOnPort(t, 1, undefined, (i) => (i === 0 ? { ...LONG, timeoutMs: 300 } : LONG));
  const staller = await connect(Buffer.from([0x16]));
  // A whole ClientHello gets the turn at once: the server's first flight (a TLS handshake record) comes back.
  const honest = await connect(hello);
  await within(once(honest.socket, 'data'), 'the ServerHello', 10_000);
  t.is(honest.received[0][0], 0x16);
  const cut = await refusal(0, 'the stalled one');
  t.regex(cut.message, /no whole ClientHello within the handshake timeout/);
  t.deepEqual(await within(staller.closed, 'the stalled one closing', 10_000), Buffer.alloc(0), 'closed without a word');
});

test.serial('what the connections waiting for a turn hold is bounded in total: past it, one is told the server is busy', async (t) => {
  const hello = await clientHello(t, shared.pki);
  const { connect, refusal } = await transportOnPort(t, 1, 100 * 1024);
  await connect(hello);
  // A record header announcing 60,000 bytes, and 40 KiB of them: each waits for the rest, holding 40 KiB.
  const partial = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0xea, 0x60]), Buffer.alloc(40 * 1024 - 5)]);
  await connect(partial);
  await connect(partial);
  const third = await connect(partial);
  const refused = await refusal(3, 'the connection past the total');
  t.is((refused as ConnectionRefused).code, 'TOO_MANY_CONNECTIONS');
  t.regex(refused.message, /hold more than 102400 bytes/);
  t.deepEqual(await within(third.closed, 'the refused connection closing', 10_000), BUSY_ALERT);
});

test.serial('a TLS agency that finds the server full is told it is busy, tries again, and finishes once a place frees', async (t) => {
  const { pki } = shared;
  const { server, inputs } = await tlsLottery(t, pki, 1, ['--max-connections', '2', '--handshake-timeout', '60']);
  const held = await Promise.all(
    [0, 1].map(async () => {
      const socket = net.connect({ host: '127.0.0.1', port: server.port });
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      return socket;
    }),
  );
  t.teardown(() => held.forEach((socket) => socket.destroy()));
  const agency = agencyFor(t, 1, server.port, ['--retry-timeout', '60', '--data-file', inputs[0].file, ...clientTlsArgs(pki, 'agency-1')]);
  // The agency is refused for load, and says it will try again.
  await agency.waitUntil(() => agency.lines.some((line) => /code: TOO_MANY_CONNECTIONS.*reintento_ms/.test(line)), 'a retry', {
    timeoutMs: GUARD_MS,
  });
  held.forEach((socket) => socket.destroy());
  const run = await within(agency.result, 'the agency');
  t.is(run.code, 0, run.lines.join('\n'));
  t.regex(run.lines.join('\n'), /the server at .* is busy/);
});

test.serial('64 addresses × 2 stalled ClientHellos, reopened as they are cut, do not keep an agency from finishing', async (t) => {
  const { pki } = shared;
  const { server, inputs } = await tlsLottery(t, pki, 1, ['--workers', '1', '--max-handshakes', '8', '--handshake-timeout', '1']);
  const hello = await clientHello(t, pki);
  let attacking = true;
  let reopened = 0;
  const open = new Set<net.Socket>();
  const stall = (address: string) => {
    if (!attacking) return;
    const socket = net.connect({ host: '127.0.0.1', port: server.port, localAddress: address });
    open.add(socket);
    socket.on('error', () => undefined);
    socket.resume();
    socket.once('connect', () => socket.write(hello));
    socket.once('close', () => {
      open.delete(socket);
      reopened++;
      stall(address);
    });
  };
  t.teardown(() => {
    attacking = false;
    open.forEach((socket) => socket.destroy());
  });
  for (let i = 0; i < 64; i++) for (let j = 0; j < 2; j++) stall(`127.0.1.${i + 1}`);
  // The stallers hold every turn before the agency starts, and more of them wait in line: each turn has been held by one and cut.
  await pollUntil(() => reopened >= 8, 'every turn held by a staller and cut once', { everyMs: 50, ms: GUARD_MS });
  const run = await within(
    agencyFor(t, 1, server.port, ['--retry-timeout', '20', '--data-file', inputs[0].file, ...clientTlsArgs(pki, 'agency-1')]).result,
    'the agency',
  );
  t.is(run.code, 0, run.lines.join('\n'));
  t.is(open.size, 128, 'the attack was kept up to the end: 128 stalled connections open');
});

/** A TLS server of the lottery's that takes a connection and holds its ClientHello until `release()`, then handshakes. */
async function serverThatHoldsTheLine(t: ExecutionContext) {
  const real = tls.createServer(serverTlsOptions(await serverTlsFilesIn(shared.pki)));
  const held = Promise.withResolvers<void>();
  const front = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.pause();
    void held.promise.then(() => real.emit('connection', socket));
  });
  t.teardown(() => front.close());
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  return { port: (front.address() as net.AddressInfo).port, release: () => held.resolve() };
}

test.serial('an agency kept in line by a busy TLS server waits past its connect timeout: the server took the connection', async (t) => {
  const { port, release } = await serverThatHoldsTheLine(t);
  const connecting = ServerConnection.connect('127.0.0.1', port, 100, await clientTlsFilesIn(shared.pki, 'agency-1'));
  // The server keeps the agency in line for longer than its connect timeout.
  setTimeout(release, 400);
  const connection = await within(connecting, 'the handshake after the wait in line');
  connection.close();
  t.pass();
});

test.serial('an agency gives up a TLS handshake the server never answers at its handshake wait, and may try again', async (t) => {
  const { port } = await serverThatHoldsTheLine(t);
  const started = performance.now();
  const error = await within(
    ServerConnection.connect('127.0.0.1', port, 5000, await clientTlsFilesIn(shared.pki, 'agency-1'), 300).then(
      () => new Error('connected'),
      (error: Error) => error,
    ),
    'the agency giving up',
  );
  t.true(error instanceof ConnectionError);
  t.is((error as ConnectionError).code, ClientFailure.CONNECT_TIMEOUT);
  t.regex(error.message, /no TLS handshake with 127\.0\.0\.1:\d+ within 0\.3 s of connecting/);
  t.true(performance.now() - started >= 300);
});

test.serial(
  'an agency given several front-ends leaves one that takes its connection and never handshakes, after its reply timeout',
  async (t) => {
    const { pki } = shared;
    const { dataDir, server, inputs } = await tlsLottery(t, pki, 1);
    // Takes every connection and never answers its ClientHello: a front-end frozen, its kernel still accepting.
    const { port: frozen } = await serverThatHoldsTheLine(t);
    const agency = startProgram('lottery-agency', [
      '--id',
      '1',
      '--server',
      `127.0.0.1:${frozen},127.0.0.1:${server.port}`,
      '--data-file',
      inputs[0].file,
      // Long enough for the live server's handshake on a busy machine.
      '--reply-timeout',
      '3',
      ...clientTlsArgs(pki, 'agency-1'),
    ]);
    t.teardown(() => void agency.child.kill('SIGKILL'));
    t.is(await within(agency.exited, 'the agency done, long before its 90 s wait for a single server'), 0, agency.lines.join('\n'));
    t.deepEqual(sorted(winnersIn(agency.lines) ?? []), inputs[0].winners);
    t.deepEqual(sorted(await storedRows(t, dataDir)), sorted(inputs[0].rows));
    t.regex(
      agency.lines.find((line) => /action: conexion \| result: fail/.test(line)) ?? '',
      new RegExp(`code: CONNECT_TIMEOUT \\| error: no TLS handshake with 127\\.0\\.0\\.1:${frozen} within 3 s of connecting`),
    );
  },
);
