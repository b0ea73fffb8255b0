// lottery-admin close: closes sales now, over the protocol with the monitor
// identity (CLOSE, answered CLOSED). The server records the close, runs the
// draw over what is stored and tells every agency that had not finished.
import type { Schema } from '../config/program-config.ts';
import { configFileSetting, configOrExit, loadProgramConfig } from '../config/program-config.ts';
import { parseHostPort } from '../config/formats.ts';
import { loadClientTls, tlsSettings } from '../config/tls-settings.ts';
import { ServerConnection } from '../agency/server-connection.ts';
import { ClientFailure } from '../errors.ts';

const schema = {
  server: { doc: 'the server as host:port', format: 'host-port', default: 'localhost:12345', env: 'CLI_SERVER_ADDRESS', arg: 'server' },
  timeout: {
    doc: 'seconds to wait for the connection and the answer',
    format: 'seconds',
    default: 10,
    env: 'LOTTERY_ADMIN_TIMEOUT',
    arg: 'timeout',
  },
  ...tlsSettings('CLI', 'client'),
  config: configFileSetting('LOTTERY_ADMIN_CONFIG'),
} satisfies Schema;

const program = {
  name: 'lottery-admin close',
  usage: 'lottery-admin close [--server host:port] [--tls-ca ca.crt --tls-cert monitor.crt --tls-key monitor.key]',
  summary:
    'Closes sales now: no more bets are taken, the draw runs at once over every stored bet, and agencies that had\n' +
    'not finished are recorded as closed with what was stored. Needs the monitor identity. Exit 0 once closed.',
};

type CloseConfig = { server: string; timeout: number; tlsCa: string; tlsCert: string; tlsKey: string };

/** Runs the command with `argv` (the words after `close`); the exit code. */
export async function runClose(argv: string[]): Promise<number> {
  const config = configOrExit(() => loadProgramConfig<CloseConfig>(program, schema, argv, process.env));
  const tls = configOrExit(() => loadClientTls(program, schema, config));
  const { host, port } = parseHostPort(config.server)!;
  const fail = (reason: string) => {
    process.stderr.write(`lottery-admin close: ${reason}\n`);
    return 1;
  };
  let connection;
  try {
    connection = await ServerConnection.connect(host, port, config.timeout * 1000, tls);
  } catch (error) {
    return fail((error as Error).message);
  }
  try {
    await connection.send({ type: 'CLOSE' });
    const answer = await connection.receive(config.timeout * 1000);
    if (answer.type === 'ERROR') return fail(`the server at ${config.server} answered ERROR ${answer.code}: ${answer.message}`);
    if (answer.type !== 'CLOSED') return fail(`the server at ${config.server} answered ${answer.type} instead of CLOSED`);
    const unfinished =
      answer.unfinished.length === 0 ? 'every agency had finished' : `agencies not finished: ${answer.unfinished.join(', ')}`;
    process.stdout.write(`lottery-admin close: sales closed at ${answer.at}; ${unfinished}\n`);
    return 0;
  } catch (error) {
    return fail(
      (error as { code?: string }).code === ClientFailure.TIMEOUT
        ? `no answer from ${config.server} within ${config.timeout} s`
        : (error as Error).message,
    );
  } finally {
    connection.close();
  }
}
