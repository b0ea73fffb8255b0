import convict from 'convict';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LOG_FORMATS, LOG_LEVELS } from '../log/logger.ts';

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
  /** For tests only: left out of --help (still a flag, variable and key). */
  hidden?: boolean;
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

/** The logging settings every program has. */
export const loggingSettings = {
  logLevel: { doc: 'log level', format: LOG_LEVELS, default: 'info', env: 'LOGGING_LEVEL', arg: 'log-level' },
  logFormat: { doc: 'log format: text (one line per event) or json', format: LOG_FORMATS, default: 'text', env: 'LOG_FORMAT', arg: 'log-format' },
} satisfies Schema;

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
    const lines = namingFlags(schema, (error as Error).message).split('\n');
    throw new ConfigExit(`${lines.map((line) => `${program.name}: ${line}`).join('\n')}\nTry '${program.name} --help'.`, 2);
  }
  return config.getProperties() as T;
}

/**
 * For a program's entry point: the configuration, or, for --help, --version
 * and bad values, the message printed and the process ended (exit 0 or 2).
 */
export function configOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigExit)) throw error;
    (error.exitCode === 0 ? process.stdout : process.stderr).write(`${error.message}\n`);
    process.exit(error.exitCode);
  }
}

/** convict names a setting by its key; say its flag and variable too, which is what the user typed. */
function namingFlags(schema: Schema, message: string): string {
  return message
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const key = /^(\w+): /.exec(line)?.[1];
      const setting = key === undefined ? undefined : schema[key];
      return setting === undefined ? line : `--${setting.arg} (${setting.env}): ${line.slice(key!.length + 2)}`;
    })
    .join('\n');
}

/** Unknown flags and stray arguments are mistakes worth stopping for. */
function checkFlags(program: ProgramInfo, schema: Schema, argv: string[]): void {
  const known = new Set(Object.values(schema).map((setting) => setting.arg));
  const options = Object.fromEntries([...known].map((name) => [name, { type: 'string' as const }]));
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  // A flag that takes a value must have one: "--port" alone would read as "true".
  // parseArgs would take a following flag as the value ("--data-dir --fsync"),
  // but convict reads both as flags and sets the first to true; a value that
  // looks like a flag is only taken written inline (--data-dir=-odd). Checked
  // in order, so "--host --port 80" is told about --host, not about "80".
  // A flag given twice is refused, whichever flag it is: which of the two
  // was meant is not for the program to guess.
  const seen = new Set<string>();
  for (const token of tokens) {
    const problem =
      token.kind === 'positional'
        ? `unexpected argument '${token.value}'`
        : token.kind !== 'option'
          ? undefined
          : !known.has(token.name)
            ? `unknown option '${token.rawName}'`
            : token.value === undefined || (!token.inlineValue && LOOKS_LIKE_A_FLAG.test(token.value))
              ? `option '${token.rawName}' needs a value`
              : seen.has(token.name)
                ? `option '--${token.name}' is given more than once`
                : undefined;
    if (token.kind === 'option') seen.add(token.name);
    if (problem !== undefined) throw new ConfigExit(`${program.name}: ${problem}\nTry '${program.name} --help'.`, 2);
  }
}

const LOOKS_LIKE_A_FLAG = /^--?[A-Za-z]/;

export function helpText(program: ProgramInfo, schema: Schema): string {
  const rows = Object.entries(schema).filter(([, setting]) => !setting.hidden).map(([key, setting]) => {
    const shown = setting.shownDefault ?? (setting.default === '' ? '(none)' : String(setting.default));
    return `  --${setting.arg} <value>\n      ${setting.doc}\n      env ${setting.env}, config file key "${key}", default ${shown}`;
  });
  return [
    `Usage: ${program.usage}`,
    '',
    program.summary,
    '',
    'Options (each also settable by environment variable or config file;',
    'precedence: defaults < --config file < environment < flags; each flag may be given once):',
    ...rows,
    '  --help       show this text',
    '  --version    show the version',
  ].join('\n');
}
