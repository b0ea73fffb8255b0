import convict from 'convict';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

// One convict schema per program; this module turns a schema into a
// command-line program's configuration. Precedence, lowest first:
// defaults < config file (--config) < environment < command-line flags.

export type Setting = {
  doc: string;
  format: convict.SchemaObj['format'];
  default: unknown;
  env: string;
  arg: string;
  /** How --help shows the default when it is computed (e.g. from the machine). */
  shownDefault?: string;
};
export type Schema = Record<string, Setting>;

/** The program must stop: print `message` and exit with `exitCode`. */
export class ConfigExit extends Error {
  override name = 'ConfigExit';
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

export type ProgramInfo = { name: string; summary: string; usage: string };

/** The project's version, for --version. */
export function projectVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The config file flag every program has. */
export const configFileSetting = (env: string): Setting => ({
  doc: 'JSON config file to read; environment and flags override it',
  format: String,
  default: '',
  env,
  arg: 'config',
});

/**
 * Loads a program's configuration from `argv` and `env`. Throws ConfigExit
 * for --help and --version (exit 0) and for every bad flag or value (exit 2),
 * with a message that names the key at fault.
 */
export function loadProgramConfig<T>(
  program: ProgramInfo,
  schema: Schema,
  argv: string[],
  env: NodeJS.ProcessEnv,
): T {
  if (argv.includes('--help') || argv.includes('-h')) throw new ConfigExit(helpText(program, schema), 0);
  if (argv.includes('--version')) throw new ConfigExit(projectVersion(), 0);
  checkFlags(program, schema, argv);
  let config: convict.Config<Record<string, unknown>>;
  try {
    config = convict(schema as convict.Schema<Record<string, unknown>>, { args: argv, env });
    const file = config.get('config');
    if (typeof file === 'string' && file !== '') config.loadFile(file);
    config.validate({ allowed: 'strict' });
  } catch (error) {
    throw new ConfigExit(`${program.name}: ${(error as Error).message}\nTry '${program.name} --help'.`, 2);
  }
  return config.getProperties() as T;
}

/** Unknown flags and stray arguments are mistakes worth stopping for. */
function checkFlags(program: ProgramInfo, schema: Schema, argv: string[]): void {
  const known = new Set(Object.values(schema).map((setting) => setting.arg));
  const options = Object.fromEntries([...known].map((name) => [name, { type: 'string' as const }]));
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    const problem =
      token.kind === 'positional'
        ? `unexpected argument '${token.value}'`
        : token.kind === 'option' && !known.has(token.name)
          ? `unknown option '${token.rawName}'`
          : undefined;
    if (problem !== undefined) throw new ConfigExit(`${program.name}: ${problem}\nTry '${program.name} --help'.`, 2);
  }
  // A flag that takes a value must have one: "--port" alone would read as "true".
  for (const token of tokens) {
    if (token.kind === 'option' && token.value === undefined) {
      {
        throw new ConfigExit(`${program.name}: option '${token.rawName}' needs a value\nTry '${program.name} --help'.`, 2);
      }
    }
  }
}

export function helpText(program: ProgramInfo, schema: Schema): string {
  const rows = Object.entries(schema).map(([key, setting]) => {
    const shown = setting.shownDefault ?? (setting.default === '' ? '(none)' : String(setting.default));
    return `  --${setting.arg} <value>\n      ${setting.doc}\n      env ${setting.env}, config file key "${key}", default ${shown}`;
  });
  return [
    `Usage: ${program.usage}`,
    '',
    program.summary,
    '',
    'Options (each also settable by environment variable or config file;',
    'precedence: defaults < --config file < environment < flags):',
    ...rows,
    '  --help       show this text',
    '  --version    show the version',
  ].join('\n');
}
