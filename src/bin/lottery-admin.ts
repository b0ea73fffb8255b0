#!/usr/bin/env node
// lottery-admin: an operator's commands to a running lottery server, over the
// protocol with the monitor identity. A dispatcher: each command is a module
// of src/admin with a run(argv) that returns the exit code; adding one is a
// line in COMMANDS.
import { onStopSignal, prepareRuntime } from '../runtime.mjs';
prepareRuntime('lottery-admin');
onStopSignal((signal) => {
  process.stderr.write(`lottery-admin: stopped by ${signal}\n`);
  process.exit(1);
});

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  status: {
    summary: 'where the lottery stands: agencies by state, who is missing, bets stored, the draw and its digest',
    load: () => import('../admin/status.ts'),
  },
  close: {
    summary: 'close sales now; the draw runs over what is stored',
    load: async () => ({ run: (await import('../admin/close.ts')).runClose }),
  },
};

const [name, ...rest] = process.argv.slice(2);
const usage =
  'Usage: lottery-admin <command> [options]\n\nCommands:\n' +
  Object.entries(COMMANDS)
    .map(([command, { summary }]) => `  ${command.padEnd(10)}${summary}`)
    .join('\n') +
  "\n\n'lottery-admin <command> --help' for a command's options.\n";
if (name === undefined || name === '--help' || name === '-h') {
  process.stdout.write(usage);
  process.exit(name === undefined ? 2 : 0);
}
if (name === '--version') {
  const { projectVersion } = await import('../config/program-config.ts');
  process.stdout.write(`${projectVersion()}\n`);
  process.exit(0);
}
const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
if (command === undefined) {
  process.stderr.write(
    `lottery-admin: no command ${name}; the commands are ${Object.keys(COMMANDS).join(', ')}\nTry 'lottery-admin --help'.\n`,
  );
  process.exit(2);
}
process.exit(await (await command.load()).run(rest));
