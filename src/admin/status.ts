// lottery-admin status: asks a running server, as the monitor, where the
// lottery stands (STATUS), and prints what the status page shows: agencies
// by state, who is missing, bets stored, the draw and its digest. For an
// operator without a browser. Exit 0 when answered, 1 when not, 2 on a
// usage error.
import { configOrExit, loadProgramConfig, type Schema } from '../config/program-config.ts';
import { loadClientTls } from '../config/tls-settings.ts';
import type { MessageOf } from '../wire/messages.ts';
import { adminSettings, askServer, type AdminConfig } from './ask-server.ts';

const schema = {
  ...adminSettings,
  json: {
    doc: 'print the answer as one JSON object, for machines',
    format: 'on-off',
    default: false,
    shownDefault: 'off',
    isSwitch: true,
    env: 'LOTTERY_ADMIN_JSON',
    arg: 'json',
  },
} satisfies Schema;

const program = {
  name: 'lottery-admin status',
  usage: 'lottery-admin status [--server host:port] [--json] [--tls-ca ca.crt --tls-cert monitor.crt --tls-key monitor.key]',
  summary:
    'Asks the lottery server where the lottery stands and prints it: agencies by state, who the draw waits for,\n' +
    'bets stored, and the draw with its digest. With TLS, only the monitor certificate is answered.',
};

type StatusConfig = AdminConfig & { json: boolean };
export type StatusReport = MessageOf<'STATUS_REPORT'>;

export async function run(argv: string[]): Promise<number> {
  const config = configOrExit(() => loadProgramConfig<StatusConfig>(program, schema, argv, process.env));
  const tls = configOrExit(() => loadClientTls(program, schema, config));
  try {
    const answer = await askServer(config, tls, { type: 'STATUS' }, 'STATUS_REPORT');
    process.stdout.write(config.json ? `${JSON.stringify(withoutType(answer))}\n` : describeStatus(answer));
    return 0;
  } catch (error) {
    process.stderr.write(`lottery-admin status: ${(error as Error).message}\n`);
    return 1;
  }
}

function withoutType({ type: _, ...report }: StatusReport) {
  return report;
}

/** The report as lines for a terminal: the same answers as the status page. */
export function describeStatus(report: StatusReport): string {
  const finished = report.counts.finished ?? 0;
  const lines = [
    `agencies:  ${report.agencies} (${Object.entries(report.counts)
      // Closed agencies exist only once sales have closed: not a column to show before.
      .filter(([state, count]) => count > 0 || state !== 'closed')
      .map(([state, count]) => `${count} ${state}`)
      .join(', ')})`,
    `waiting:   ${waitingFor(report, finished)}`,
    `bets:      ${report.bets} stored, ${report.betsPerSecond}/s over the last seconds`,
    `draw:      ${report.drawn ? `drawn, ${report.winners ?? 0} winner${report.winners === 1 ? '' : 's'}` : 'not yet'}`,
  ];
  if (report.digest !== undefined) lines.push(`digest:    ${report.digest}`);
  return `${lines.join('\n')}\n`;
}

const SHOWN_IDS = 50;

function waitingFor(report: StatusReport, finished: number): string {
  if (report.drawn) return 'nobody: the draw is done';
  if (report.waiting.length === 0) return 'nobody: every agency has finished; the draw is under way';
  // A terminal line, not a list of a thousand: the first ids, and how many more.
  const shown = report.waiting.slice(0, SHOWN_IDS);
  const rest = report.waiting.length - shown.length + report.waitingMore;
  const more = rest > 0 ? ` and ${rest} more` : '';
  return `${report.agencies - finished} of ${report.agencies} not finished: ${report.waiting.length === 1 ? 'agency' : 'agencies'} ${shown.join(', ')}${more}`;
}
