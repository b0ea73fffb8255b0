import { configFileSetting, loadProgramConfig, loggingSettings, type ProgramInfo, type Schema } from './program-config.ts';
import { tlsSettings, type TlsPaths } from './tls-settings.ts';
import type { LogFormat, LogLevel } from '../log/logger.ts';

export type AgencyConfig = TlsPaths & {
  id: number;
  server: string;
  dataFile: string;
  batchMaxAmount: number;
  check: boolean;
  skipInvalid: boolean;
  winnersTimeout: number;
  replyTimeout: number;
  retryTimeout: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  config: string;
};

export const agencyProgram: ProgramInfo = {
  name: 'lottery-agency',
  usage: 'lottery-agency --id N [options]',
  summary:
    'A betting agency: streams its bets file to the lottery server in batches of at most 8 KiB,\n' +
    'says it has finished, then waits for the draw and logs its own winners.',
};

export const agencySchema = {
  id: {
    doc: "this agency's id, 1..N (required)",
    format: 'positive-integer',
    default: null,
    env: 'CLI_ID',
    arg: 'id',
    shownDefault: '(required)',
  },
  server: {
    doc: 'the server as host:port; or several front-ends of one lottery as host:port,host:port, each tried in turn when the one in use fails',
    format: 'host-port-list',
    default: 'localhost:12345',
    env: 'CLI_SERVER_ADDRESS',
    arg: 'server',
  },
  dataFile: {
    doc: 'bets file: first_name,last_name,document,birthdate,number per line',
    format: String,
    default: '',
    shownDefault: '.data/agency-<id>.csv',
    env: 'CLI_DATA_FILE',
    arg: 'data-file',
  },
  batchMaxAmount: {
    doc: 'most bets per batch; 0 = as many as fit; a batch never exceeds the 8 KiB frame either way',
    format: 'whole-number',
    default: 0,
    env: 'CLI_BATCH_MAXAMOUNT',
    arg: 'batch-max-amount',
  },
  check: {
    doc: 'only read and check the bets file, print a summary (rows, invalid rows by reason, hints) and exit: 0 if it would be uploaded, 2 if not',
    format: 'on-off',
    default: false,
    env: 'CLI_CHECK',
    arg: 'check',
    isSwitch: true,
  },
  skipInvalid: {
    doc: 'upload a file that has invalid rows: the valid ones are stored, the server refuses the rest (without it such a file is not uploaded)',
    format: 'on-off',
    default: false,
    env: 'CLI_SKIP_INVALID',
    arg: 'skip-invalid',
    isSwitch: true,
  },
  winnersTimeout: {
    doc: 'seconds to wait for the draw after finishing',
    format: 'seconds',
    default: 300,
    env: 'CLI_WINNERS_TIMEOUT',
    arg: 'winners-timeout',
  },
  replyTimeout: {
    doc:
      'seconds the server may leave a HELLO, batch, FINISH or PING unanswered, and with several front-ends a TLS\n' +
      '      handshake; past that the connection counts as lost (a machine gone without a word) and the agency tries\n' +
      '      again, on the next front-end if --server names several. While the server holds its winners request the\n' +
      '      agency PINGs it after half this time of silence',
    format: 'seconds',
    default: 30,
    env: 'CLI_REPLY_TIMEOUT',
    arg: 'reply-timeout',
  },
  retryTimeout: {
    doc: 'seconds to keep trying to reach the server before giving up',
    format: 'seconds',
    default: 60,
    env: 'CLI_RETRY_TIMEOUT',
    arg: 'retry-timeout',
  },
  ...tlsSettings('CLI', 'client'),
  ...loggingSettings,
  config: configFileSetting('CLI_CONFIG'),
} satisfies Schema;

export function loadAgencyConfig(argv: string[], env: NodeJS.ProcessEnv): AgencyConfig {
  const config = loadProgramConfig<AgencyConfig>(agencyProgram, agencySchema, argv, env);
  return { ...config, dataFile: config.dataFile === '' ? `.data/agency-${config.id}.csv` : config.dataFile };
}
