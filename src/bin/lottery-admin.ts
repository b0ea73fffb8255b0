#!/usr/bin/env node
// lottery-admin: operator commands over the protocol with the monitor
// identity, one module each; this is only their table. See --help.
import { onStopSignal, prepareRuntime } from '../runtime.mjs';
prepareRuntime('lottery-admin');
onStopSignal((signal) => {
  process.stderr.write(`lottery-admin: stopped by ${signal}\n`);
  process.exit(1);
});

/** Each subcommand: what it does, and its module's runner (given the words after its name; answers the exit code). */
const COMMANDS: Record<string, { summary: string; run: () => Promise<(argv: string[]) => Promise<number>> }> = {
  close: { summary: 'close sales now; the draw runs over what is stored', run: async () => (await import('../admin/close.ts')).runClose },
};

const usage =
  'Usage: lottery-admin <command> [options]\n\nCommands:\n' +
  Object.entries(COMMANDS)
    .map(([name, { summary }]) => `  ${name.padEnd(10)}${summary}`)
    .join('\n') +
  "\n\n'lottery-admin <command> --help' for a command's options.\n";

const [name, ...rest] = process.argv.slice(2);
if (name === '--help' || name === '-h') {
  process.stdout.write(usage);
  process.exit(0);
}
const command = name === undefined ? undefined : COMMANDS[name];
if (command === undefined) {
  process.stderr.write(`lottery-admin: ${name === undefined ? 'a command is required' : `unknown command: ${name}`}\n${usage}`);
  process.exit(2);
}
process.exit(await (await command.run())(rest));
