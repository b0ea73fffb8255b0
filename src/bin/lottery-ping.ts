#!/usr/bin/env node
// lottery-ping: asks the lottery server for a PONG; exit 0 if it answers, 1
// with the reason if not. A container healthcheck: an open port is not
// enough, the server must speak the protocol. See --help.
import { onStopSignal, prepareRuntime } from '../runtime.mjs';
import type { ServerConnection as Connection } from '../agency/server-connection.ts';
import type { Schema } from '../config/program-config.ts';
prepareRuntime('lottery-ping');
// Stopped before the answer came: no PONG, so exit 1, saying why.
onStopSignal((signal) => {
  process.stderr.write(`lottery-ping: stopped by ${signal} before a PONG\n`);
  process.exit(1);
});

const { ClientFailure } = await import('../errors.ts');
const { parseHostPort } = await import('../config/formats.ts');
const { configFileSetting, configOrExit, loadProgramConfig } = await import('../config/program-config.ts');
const { ServerConnection } = await import('../agency/server-connection.ts');
const { loadClientTls, tlsSettings } = await import('../config/tls-settings.ts');

const schema = {
  server: { doc: 'the server as host:port', format: 'host-port', default: 'localhost:12345', env: 'CLI_SERVER_ADDRESS', arg: 'server' },
  timeout: {
    doc: 'seconds to wait for the connection and for the PONG',
    format: 'seconds',
    default: 3,
    env: 'LOTTERY_PING_TIMEOUT',
    arg: 'timeout',
  },
  ...tlsSettings('CLI', 'client'),
  config: configFileSetting('LOTTERY_PING_CONFIG'),
} satisfies Schema;

const program = {
  name: 'lottery-ping',
  usage: 'lottery-ping [--server host:port] [--timeout seconds] [--tls-ca ca.crt --tls-cert monitor.crt --tls-key monitor.key]',
  summary: 'Sends the lottery server a PING; exits 0 when it answers PONG, 1 (with the reason on stderr) otherwise.',
};

type PingConfig = { server: string; timeout: number; tlsCa: string; tlsCert: string; tlsKey: string };
const config = configOrExit(() => loadProgramConfig<PingConfig>(program, schema, process.argv.slice(2), process.env));
const tls = configOrExit(() => loadClientTls(program, schema, config));
const { host, port } = parseHostPort(config.server)!;
const deadline = Date.now() + config.timeout * 1000;

function fail(reason: string): never {
  process.stderr.write(`lottery-ping: ${reason}\n`);
  process.exit(1);
}

let connection: Connection;
try {
  connection = await ServerConnection.connect(host, port, config.timeout * 1000, tls, config.timeout * 1000);
} catch (error) {
  fail((error as Error).message);
}
try {
  await connection.send({ type: 'PING' });
  const answer = await connection.receive(Math.max(1, deadline - Date.now()));
  if (answer.type === 'ERROR') fail(`the server at ${config.server} answered ERROR ${answer.code}: ${answer.message}`);
  if (answer.type !== 'PONG') fail(`the server at ${config.server} answered ${answer.type} instead of PONG`);
} catch (error) {
  // The wait's own message would show the time left, not the --timeout given.
  fail(
    (error as { code?: string }).code === ClientFailure.TIMEOUT
      ? `no PONG from ${config.server} within ${config.timeout} s`
      : (error as Error).message,
  );
}
connection.close();
process.stdout.write(`lottery-ping: the server at ${config.server} answered PONG\n`);
process.exit(0);
