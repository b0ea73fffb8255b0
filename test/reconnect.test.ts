import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import { join } from 'node:path';
import { CLOSED_PORT, startAgency, startProgram, startServer } from '../src/harness/lottery-processes.ts';
import { faultsEnv } from './helpers/fault-hooks.ts';
import { connectRaw } from './helpers/raw-connection.ts';
import { agencyFiles, sorted, storedRows, tempDir, within } from './helpers/lottery-fixtures.ts';
import { decodeMessage, encodeMessage } from '../src/wire/codec.ts';
import { FrameDecoder } from '../src/wire/frame-decoder.ts';

/**
 * The agency's address, held by the test from start to end so that no other
 * program can take it: until `open(port)` every connection to it is reset at
 * once, as by a server not up yet; after, each is relayed to `port`.
 */
async function serverAddress(t: ExecutionContext) {
  let target: number | undefined;
  const address = net.createServer((client) => {
    client.on('error', () => undefined);
    if (target === undefined) return client.resetAndDestroy();
    const upstream = net.connect({ host: '127.0.0.1', port: target });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => address.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => address.close(() => resolve())));
  return { port: (address.address() as net.AddressInfo).port, open: (port: number) => void (target = port) };
}

test('an agency started before the server keeps trying with backoff and completes once it is up', async (t) => {
  const { dir, files, rows, winners } = await agencyFiles(t, [{ count: 300, winnerRows: [7] }]);
  const address = await serverAddress(t);
  const agency = startAgency(1, address.port, ['--data-file', files[0], '--retry-timeout', '60']);
  t.teardown(() => agency.child.kill());
  await agency.waitForLine(/action: conexion \| result: fail .*reintento_ms/, { count: 2 });
  const server = await startServer(['--data-dir', join(dir, 'server'), '--agencies', '1']);
  t.teardown(() => server.stop());
  address.open(server.port);
  const run = await agency.result;
  t.is(run.code, 0);
  t.deepEqual(sorted(run.winners ?? []), winners[0]);
  t.deepEqual(sorted(await storedRows(t, join(dir, 'server'))), sorted(rows));
});

test('an agency gives up after --retry-timeout with a fail line and exit code 1', async (t) => {
  const { files } = await agencyFiles(t, [{ count: 10 }]);
  const agency = startAgency(1, CLOSED_PORT, ['--data-file', files[0], '--retry-timeout', '1']);
  t.is(await agency.exited, 1);
  t.regex(agency.lines.at(-1)!, /action: agencia \| result: fail \| error: gave up after \d+ s without the server/);
});

test('a session worker that dies is replaced and its agencies resume, storing every bet once', async (t) => {
  const { dir, files, rows, winners } = await agencyFiles(t, [
    { count: 400, winnerRows: [1, 399] },
    { count: 400, winnerRows: [200] },
    { count: 400 },
  ]);
  const dataDir = join(dir, 'server');
  const server = await startServer(['--data-dir', dataDir, '--agencies', '3', '--workers', '2'], {
    env: faultsEnv({ sessionCrashAfterBatches: 10, crashingSessionWorkers: 2 }),
  });
  t.teardown(() => server.stop());
  const runs = await Promise.all(
    files.map((file, i) => startAgency(i + 1, server.port, ['--data-file', file, '--batch-max-amount', '5']).result),
  );
  runs.forEach((run, i) => {
    t.is(run.code, 0, run.lines.slice(-5).join('\n'));
    t.deepEqual(sorted(run.winners ?? []), winners[i]);
  });
  t.is(server.lines.filter((line) => /action: session_worker \| result: fail .*replaced: true/.test(line)).length, 2);
  t.deepEqual(sorted(await storedRows(t, dataDir)), sorted(rows));
});

test('a second connection for the same agency takes over: the older one gets REPLACED and is closed', async (t) => {
  const dir = await tempDir(t);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--agencies', '2']);
  t.teardown(() => server.stop());
  const older = await connectRaw(server.port);
  t.teardown(() => older.destroy());
  older.send({ type: 'HELLO', agency: 2 });
  t.like(await older.receive(), { type: 'WELCOME', offset: 0 });
  older.send({ type: 'BETS', offset: 0, bets: [['Ana', 'Gómez', '1', '1990-05-05', 10]] });
  t.deepEqual(await older.receive(), { type: 'ACK', offset: 1 });

  const newer = await connectRaw(server.port);
  t.teardown(() => newer.destroy());
  newer.send({ type: 'HELLO', agency: 2 });
  t.like(await newer.receive(), { type: 'WELCOME', offset: 1 });
  const replaced = await older.receive();
  t.like(replaced, { type: 'ERROR', code: 'REPLACED' });
  // The older one is told where the newer one comes from, and the server logs both once.
  t.regex(
    (replaced as { message: string }).message,
    /^a newer connection from 127\.0\.0\.1:\d+ took over agency 2: another process is uploading as this agency$/,
  );
  await server.waitForLine(
    /action: agencia_duplicada \| result: fail \| agencia: 2 \| anterior: 127\.0\.0\.1:\d+ \| nueva: 127\.0\.0\.1:\d+ \|/,
  );
  await older.closed;
  newer.send({ type: 'BETS', offset: 1, bets: [['Luis', 'Núñez', '2', '1991-06-06', 11]] });
  t.deepEqual(await newer.receive(), { type: 'ACK', offset: 2 });
});

test('an agency whose server fails every request after WELCOME gives up after --retry-timeout, logging the ERROR the server sent', async (t) => {
  const { files } = await agencyFiles(t, [{ count: 50 }]);
  // A server that welcomes and then fails each batch, as one with a full disk does.
  let connections = 0;
  const failing = net.createServer((socket) => {
    connections++;
    const decoder = new FrameDecoder();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const message = decodeMessage(frame);
        if (message.type === 'HELLO') socket.write(encodeMessage({ type: 'WELCOME', offset: 0, finished: false, drawn: false }));
        if (message.type === 'BETS') {
          socket.end(encodeMessage({ type: 'ERROR', code: 'INTERNAL', message: 'ENOSPC: no space left on device, write' }));
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
  t.teardown(() => failing.close());
  const { port } = failing.address() as net.AddressInfo;
  const agency = startAgency(1, port, ['--data-file', files[0], '--retry-timeout', '1']);
  t.teardown(() => agency.child.kill('SIGKILL'));
  t.is(await within(agency.exited, 'the agency giving up'), 1);
  t.true(connections > 1, 'it tried again');
  const failures = agency.lines.filter((line) => /action: conexion \| result: fail/.test(line));
  t.true(failures.length > 0);
  for (const line of failures)
    t.regex(line, /code: INTERNAL \| error: the server answered INTERNAL: ENOSPC: no space left on device, write/);
  t.regex(
    agency.lines.at(-1)!,
    /action: agencia \| result: fail \| error: gave up after \d+ s: the server kept failing: the server answered INTERNAL: ENOSPC/,
  );
});

test('a server host name that does not resolve is retried, reported as a DNS failure, and named when the agency gives up', async (t) => {
  const { files } = await agencyFiles(t, [{ count: 3 }]);
  // .invalid never resolves (RFC 6761).
  const agency = startProgram('lottery-agency', [
    '--id',
    '1',
    '--data-file',
    files[0],
    '--server',
    'nowhere.invalid:12345',
    '--retry-timeout',
    '1',
  ]);
  t.is(await within(agency.exited, 'the agency giving up'), 1);
  t.true(
    agency.lines.some((line) =>
      /action: conexion \| result: fail \| code: HOST_NOT_FOUND \| error: the server's host name nowhere\.invalid does not resolve/.test(
        line,
      ),
    ),
    agency.lines.join('\n'),
  );
  t.regex(
    agency.lines.at(-1)!,
    /action: agencia \| result: fail \| error: gave up after \d+ s: the server's host name nowhere\.invalid does not resolve .*check the host in --server$/,
  );
});

test('an agency whose connection another process takes over exits 1 saying so and from where, instead of fighting for it', async (t) => {
  const { dir, files } = await agencyFiles(t, [{ count: 20000 }]);
  const server = await startServer(['--data-dir', join(dir, 'server'), '--agencies', '2']);
  t.teardown(() => server.stop());
  const agency = startAgency(1, server.port, ['--data-file', files[0], '--batch-max-amount', '2']);
  await server.waitForLine(/action: apuesta_recibida \| result: success \| agencia: 1/);
  // Another process speaks as agency 1.
  const other = await connectRaw(server.port);
  t.teardown(() => other.destroy());
  other.send({ type: 'HELLO', agency: 1 });
  t.like(await other.receive(), { type: 'WELCOME' });
  t.is(await within(agency.exited, 'the replaced agency exiting'), 1, agency.lines.join('\n'));
  t.regex(
    agency.lines.at(-1)!,
    /action: agencia \| result: fail \| error: the server answered REPLACED: a newer connection from 127\.0\.0\.1:\d+ took over agency 1: another process is uploading as this agency$/,
  );
  t.is(server.lines.filter((line) => /action: agencia_duplicada/.test(line)).length, 1);
});
