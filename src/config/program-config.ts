import convict from 'convict';
import { readFileSync } from 'node:fs';
import { LOG_FORMATS, LOG_LEVELS } from '../log/log-settings.ts';
import { readFlags, type KnownFlags } from './command-line.ts';
import { readConfigFile, type ConfigFile } from './config-file.ts';
import { isSecretFormat, validatorOf, type SettingFormat } from './formats.ts';
import { CommandLineError, ConfigExit, ConfigFileError } from '../errors.ts';

// One convict schema per program; this module turns a schema into a
// command-line program's configuration. Precedence, lowest first:
// defaults < config file (--config) < environment < command-line flags.

export type Setting = {
  doc: string;
  format: SettingFormat;
  default: unknown;
  env: string;
  arg: string;
  /** A flag that may be given alone, meaning on (e.g. --force); its format is on-off. */
  isSwitch?: true;
  /** How --help shows the default when it is computed (e.g. from the machine). */
  shownDefault?: string;
  /** The default, when it depends on other settings: used where no flag, variable or config file sets this one. */
  defaultFrom?: (settings: Record<string, unknown>) => unknown;
};
export type Schema = Record<string, Setting>;

export type ProgramInfo = { name: string; summary: string; usage: string };

/** The project's version, for --version. */
export function projectVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The logging settings every program has. */
export const loggingSettings = {
  logLevel: { doc: 'log level', format: LOG_LEVELS, default: 'info', env: 'LOGGING_LEVEL', arg: 'log-level' },
  logFormat: {
    doc: 'log format: text (one line per event) or json',
    format: LOG_FORMATS,
    default: 'text',
    env: 'LOG_FORMAT',
    arg: 'log-format',
  },
} satisfies Schema;

/**
 * The PostgreSQL store and the lottery in it, as the server, lottery-verify
 * and lottery-export take them: `store` says what the URL is for there.
 */
export function storeSettings(store: string, shownDefault = '(none)') {
  return {
    store: { doc: store, format: 'store-url', default: '', shownDefault, env: 'LOTTERY_STORE', arg: 'store' },
    lottery: {
      doc: "the lottery's name in the --store database, which may hold several",
      format: 'lottery-name',
      default: 'default',
      env: 'LOTTERY_NAME',
      arg: 'lottery',
    },
  } satisfies Schema;
}

/** The config file flag every program has. */
export const configFileSetting = (env: string): Setting => ({
  doc: 'config file to read (JSON, or YAML if named .yaml or .yml); environment and flags override it',
  format: String,
  default: '',
  env,
  arg: 'config',
});

/** The exit code of a usage error: a bad flag or value. */
export const USAGE_ERROR = 2;

/** A usage error: each line said by the program, then where to look. */
export function usageError(program: ProgramInfo, lines: string[]): ConfigExit {
  return new ConfigExit(`${lines.map((line) => `${program.name}: ${line}`).join('\n')}\nTry '${program.name} --help'.`, USAGE_ERROR);
}

/** How a message names a setting to its user: its flag and its variable. */
export function flagAndVariable(setting: Setting): string {
  return `--${setting.arg} (${setting.env})`;
}

/**
 * Loads a program's configuration from `argv` and `env`. Throws ConfigExit
 * for --help and --version (exit 0) and for every bad flag or value (exit 2),
 * with a message that names the key at fault.
 */
export function loadProgramConfig<T>(program: ProgramInfo, schema: Schema, argv: string[], env: NodeJS.ProcessEnv): T {
  if (argv.includes('--help') || argv.includes('-h')) throw new ConfigExit(helpText(program, schema), 0);
  if (argv.includes('--version')) throw new ConfigExit(projectVersion(), 0);
  try {
    const flags = flagsByKey(schema, argv);
    // convict reads the environment itself, by the schema's `env` names. The
    // command line is not left to it: its parser reads "--data-dir 1.50" as
    // the number 1.5 and a flag given twice as a list.
    const config = convict(schema as convict.Schema<Record<string, unknown>>, { env, args: [] });
    // The file named by --config, else by its variable (convict has read that).
    const path = flags.get('config') ?? (Object.hasOwn(schema, 'config') ? config.get('config') : '');
    const file = typeof path === 'string' && path !== '' ? readConfigFile(path) : undefined;
    // load() keeps the environment above the file; set() puts each flag above both.
    if (file !== undefined) config.load(file.settings);
    for (const [key, value] of flags) config.set(key, value);
    const sources: Sources = { flags, env, file };
    const problems = problemsIn(schema, config.getProperties(), sources);
    if (problems.length > 0) throw usageError(program, problems);
    // Every value passed the same formats above; convict's own check stays the last word.
    config.validate({ allowed: 'strict' });
    for (const [key, setting] of Object.entries(schema)) {
      if (setting.defaultFrom !== undefined && originOf(schema, sources, key) === 'default') {
        config.set(key, setting.defaultFrom(config.getProperties()));
      }
    }
    return config.getProperties() as T;
  } catch (error) {
    if (error instanceof CommandLineError || error instanceof ConfigFileError) throw usageError(program, [error.message]);
    throw error;
  }
}

/** What gave the settings their values, highest first. */
type Sources = { flags: ReadonlyMap<string, string>; env: NodeJS.ProcessEnv; file: ConfigFile | undefined };

/** Where a setting's value came from: the highest source that gave one, or its default. */
type Origin = 'flag' | 'env' | 'file' | 'default';

function originOf(schema: Schema, { flags, env, file }: Sources, key: string): Origin {
  if (flags.has(key)) return 'flag';
  if (env[schema[key].env] !== undefined) return 'env';
  if (file !== undefined && Object.hasOwn(file.settings, key)) return 'file';
  return 'default';
}

/**
 * Every bad value in `values` (in schema order) and every config file key the
 * schema does not have, each told as the user set it: the flag and its
 * variable (either may have given the value), or the config file's key; and a
 * required setting that nothing gave, as such.
 */
function problemsIn(schema: Schema, values: Record<string, unknown>, sources: Sources): string[] {
  const { file } = sources;
  const bad = Object.entries(schema).flatMap(([key, setting]) => {
    const problem = formatProblem(setting, values[key]);
    if (problem === undefined) return [];
    const origin = originOf(schema, sources, key);
    if (isSecretFormat(setting.format))
      return [origin === 'file' ? `"${key}" in config file ${file!.path}: ${problem}` : `${flagAndVariable(setting)}: ${problem}`];
    if (origin === 'file') return [`"${key}" in config file ${file!.path}: ${withValue(problem, file!.settings[key])}`];
    if (origin === 'default' && setting.default === null) return [`${flagAndVariable(setting)} is required`];
    const given = origin === 'flag' ? sources.flags.get(key) : origin === 'env' ? sources.env[setting.env] : undefined;
    return [`${flagAndVariable(setting)}: ${withValue(problem, given)}`];
  });
  const unknown = file === undefined ? [] : Object.keys(file.settings).filter((key) => !Object.hasOwn(schema, key));
  return [...bad, ...unknown.map((key) => `config file ${file!.path}: unknown key "${key}"`)];
}

/** The problem with the value as the user gave it, unless the problem shows it already. */
export function withValue(problem: string, given: unknown): string {
  if (given === undefined || / got |: give /.test(problem)) return problem;
  return `${problem}, got ${JSON.stringify(given)}`;
}

/** What the setting's format says of the value, or undefined if it takes it. */
function formatProblem(setting: Setting, value: unknown): string | undefined {
  try {
    validatorOf(setting.format)(value);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The flags given, by their settings' keys. */
function flagsByKey(schema: Schema, argv: string[]): Map<string, string> {
  const keyOf = new Map(Object.entries(schema).map(([key, setting]) => [setting.arg, key]));
  const known: KnownFlags = new Map(Object.values(schema).map((setting) => [setting.arg, { isSwitch: setting.isSwitch === true }]));
  return new Map([...readFlags(known, argv)].map(([flag, value]) => [keyOf.get(flag)!, value]));
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

export function helpText(program: ProgramInfo, schema: Schema): string {
  const rows = Object.entries(schema).map(([key, setting]) => {
    const shown = setting.shownDefault ?? (setting.default === '' ? '(none)' : String(setting.default));
    const flag = setting.isSwitch ? `--${setting.arg}[=on|off]` : `--${setting.arg} <value>`;
    return `  ${flag}\n      ${setting.doc}\n      env ${setting.env}, config file key "${key}", default ${shown}`;
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
