// What every lottery-admin command shares: where the server is, how long to
// wait for it, the monitor's TLS files and a config file; and asking the
// server one request for one answer, over the protocol, as the monitor.
import { ServerConnection } from '../agency/server-connection.ts';
import { parseHostPort } from '../config/formats.ts';
import { configFileSetting, type Schema } from '../config/program-config.ts';
import type { ClientTlsFiles } from '../transport/client-tls.ts';
import { tlsSettings } from '../config/tls-settings.ts';
import { ClientFailure } from '../errors.ts';
import type { Message, MessageName, MessageOf } from '../wire/messages.ts';

export const adminSettings = {
  server: { doc: 'the server as host:port', format: 'host-port', default: 'localhost:12345', env: 'CLI_SERVER_ADDRESS', arg: 'server' },
  timeout: {
    doc: 'seconds to wait for the connection and for the answer',
    format: 'seconds',
    default: 10,
    env: 'LOTTERY_ADMIN_TIMEOUT',
    arg: 'timeout',
  },
  ...tlsSettings('CLI', 'client'),
  config: configFileSetting('LOTTERY_ADMIN_CONFIG'),
} satisfies Schema;

export type AdminConfig = { server: string; timeout: number; tlsCa: string; tlsCert: string; tlsKey: string };

/**
 * Sends `request` and answers the server's one reply of type `expected`,
 * all within the timeout. Anything else throws, with one line that says
 * what the server did (an ERROR, another message, no answer in time).
 */
export async function askServer<N extends MessageName>(
  config: AdminConfig,
  tls: ClientTlsFiles | undefined,
  request: Message,
  expected: N,
): Promise<MessageOf<N>> {
  const { host, port } = parseHostPort(config.server)!;
  const deadline = Date.now() + config.timeout * 1000;
  let connection: ServerConnection | undefined;
  try {
    // The TLS handshake within the timeout too: an agency waits longer, to keep its place in a busy server's line.
    connection = await ServerConnection.connect(host, port, config.timeout * 1000, tls, config.timeout * 1000);
    await connection.send(request);
    const answer = await connection.receive(Math.max(1, deadline - Date.now()));
    if (answer.type === 'ERROR') throw new Error(`the server at ${config.server} answered ERROR ${answer.code}: ${answer.message}`);
    if (answer.type !== expected) throw new Error(`the server at ${config.server} answered ${answer.type} instead of ${expected}`);
    return answer as MessageOf<N>;
  } catch (error) {
    if ((error as { code?: string }).code === ClientFailure.TIMEOUT)
      throw new Error(`no answer from ${config.server} within ${config.timeout} s`, { cause: error });
    throw error;
  } finally {
    connection?.close();
  }
}
