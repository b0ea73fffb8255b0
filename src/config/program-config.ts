import convict from 'convict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { LOG_FORMATS, LOG_LEVELS } from '../log/logger.ts';
import { ConfigExit, ConfigFileError } from '../errors.ts';

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

/** The config file flag every program has. */
export const configFileSetting = (env: string): Setting => ({
  doc: 'config file to read (JSON, or YAML if named .yaml or .yml); environment and flags override it',
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
export function loadProgramConfig<T>(program: ProgramInfo, schema: Schema, argv: string[], env: NodeJS.ProcessEnv): T {
  if (argv.includes('--help') || argv.includes('-h')) throw new ConfigExit(helpText(program, schema), 0);
  if (argv.includes('--version')) throw new ConfigExit(projectVersion(), 0);
  const flags = flagValues(program, schema, argv);
  const fail = (lines: string[]): never => {
    throw new ConfigExit(`${lines.map((line) => `${program.name}: ${line}`).join('\n')}\nTry '${program.name} --help'.`, 2);
  };
  let config: convict.Config<Record<string, unknown>>;
  let file: ConfigFile | undefined;
  try {
    // The command line is parsed once, above; convict takes each flag's value
    // in place of its variable's, which is where flags stand in precedence.
    const flagsOverEnv = { ...env };
    for (const setting of Object.values(schema)) if (flags.has(setting.arg)) flagsOverEnv[setting.env] = flags.get(setting.arg);
    config = convict(schema as convict.Schema<Record<string, unknown>>, { args: [], env: flagsOverEnv });
    const path = config.get('config');
    if (typeof path === 'string' && path !== '') {
      file = readConfigFile(path);
      config.load(file.settings);
    }
    config.validate({ allowed: 'strict' });
    for (const [key, setting] of Object.entries(schema)) {
      const given = flags.has(setting.arg) || env[setting.env] !== undefined || (file !== undefined && key in file.settings);
      if (setting.defaultFrom !== undefined && !given) config.set(key, setting.defaultFrom(config.getProperties()));
    }
  } catch (error) {
    if (error instanceof ConfigExit) throw error;
    if (error instanceof ConfigFileError) return fail([error.message]);
    const sources: Sources = { flags, env, file };
    return fail(
      (error as Error).message
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => explain(schema, sources, line)),
    );
  }
  return config.getProperties() as T;
}

type ConfigFile = { path: string; settings: Record<string, unknown> };
type Sources = { flags: Map<string, string>; env: NodeJS.ProcessEnv; file: ConfigFile | undefined };

/**
 * The YAML parser, loaded only for a YAML config file: loading it costs a
 * program's start more than all its own configuration does.
 */
function parseYaml(text: string): unknown {
  const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return parse(text);
}

/** Reads a config file as JSON, or as YAML when its name ends in .yaml or .yml. */
function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new ConfigFileError(`config file ${path}: cannot read it (${code === 'ENOENT' ? 'no such file' : message})`);
  }
  const yaml = ['.yaml', '.yml'].includes(extname(path).toLowerCase());
  let settings: unknown;
  try {
    settings = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    // Both parsers' messages may span lines (YAML shows the spot): the first says what is wrong.
    const reason = (error as Error).message.split('\n')[0].trim().replace(/:$/, '');
    throw new ConfigFileError(`config file ${path} is not valid ${yaml ? 'YAML' : 'JSON'}: ${reason}`);
  }
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    throw new ConfigFileError(`config file ${path} must hold an object of settings, e.g. {"port": 12345}`);
  }
  return { path, settings: settings as Record<string, unknown> };
}

/**
 * One of convict's messages, told as the user set the value: the flag, the
 * variable or the config file's key, whichever the value came from (in
 * precedence order), and a missing required setting said as such.
 */
function explain(schema: Schema, { flags, env, file }: Sources, line: string): string {
  const undeclared = /^configuration param '([^']+)' not declared in the schema$/.exec(line);
  if (undeclared) return file === undefined ? line : `config file ${file.path}: unknown key "${undeclared[1]}"`;
  const key = /^(\w+): /.exec(line)?.[1];
  const setting = key === undefined ? undefined : schema[key];
  if (setting === undefined) return line;
  const problem = line.slice(key!.length + 2);
  if (flags.has(setting.arg) || env[setting.env] !== undefined) return `--${setting.arg} (${setting.env}): ${problem}`;
  if (file !== undefined && Object.hasOwn(file.settings, key!)) return `"${key}" in config file ${file.path}: ${problem}`;
  if (setting.default === null) return `--${setting.arg} (${setting.env}) is required`;
  return `--${setting.arg} (${setting.env}): ${problem}`;
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

/**
 * The command line's flags, by name. Unknown flags, stray arguments, a flag
 * without its value and a flag given twice are mistakes worth stopping for.
 */
function flagValues(program: ProgramInfo, schema: Schema, argv: string[]): Map<string, string> {
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
  const values = new Map<string, string>();
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
              : values.has(token.name)
                ? `option '--${token.name}' is given more than once`
                : undefined;
    if (problem !== undefined) throw new ConfigExit(`${program.name}: ${problem}\nTry '${program.name} --help'.`, 2);
    if (token.kind === 'option') values.set(token.name, token.value!);
  }
  return values;
}

const LOOKS_LIKE_A_FLAG = /^--?[A-Za-z]/;

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
    'precedence: defaults < --config file < environment < flags; each flag may be given once):',
    ...rows,
    '  --help       show this text',
    '  --version    show the version',
  ].join('\n');
}
