// lottery-admin close: closes sales now, over the protocol with the monitor
// identity (CLOSE, answered CLOSED). The server records the close, runs the
// draw over what is stored and tells every agency that had not finished.
import { configOrExit, loadProgramConfig } from '../config/program-config.ts';
import { loadClientTls } from '../config/tls-settings.ts';
import { adminSettings, askServer, type AdminConfig } from './ask-server.ts';

const schema = adminSettings;

const program = {
  name: 'lottery-admin close',
  usage: 'lottery-admin close [--server host:port] [--tls-ca ca.crt --tls-cert monitor.crt --tls-key monitor.key]',
  summary:
    'Closes sales now: no more bets are taken, the draw runs at once over every stored bet, and agencies that had\n' +
    'not finished are recorded as closed with what was stored. Needs the monitor identity. Exit 0 once closed.',
};

/** Runs the command with `argv` (the words after `close`); the exit code. */
export async function runClose(argv: string[]): Promise<number> {
  const config = configOrExit(() => loadProgramConfig<AdminConfig>(program, schema, argv, process.env));
  const tls = configOrExit(() => loadClientTls(program, schema, config));
  try {
    const answer = await askServer(config, tls, { type: 'CLOSE' }, 'CLOSED');
    const unfinished =
      answer.unfinished.length === 0 ? 'every agency had finished' : `agencies not finished: ${answer.unfinished.join(', ')}`;
    process.stdout.write(`lottery-admin close: sales closed at ${answer.at}; ${unfinished}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`lottery-admin close: ${(error as Error).message}\n`);
    return 1;
  }
}
