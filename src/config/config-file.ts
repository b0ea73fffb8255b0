import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { ConfigFileError } from '../errors.ts';

// A program's config file (--config): an object of settings by their schema
// keys, as JSON, or as YAML when the file is named .yaml or .yml.

export type ConfigFile = { path: string; settings: Record<string, unknown> };

/**
 * The YAML parser, loaded only for a YAML config file: loading it costs a
 * program's start more than all its own configuration does.
 */
function parseYaml(text: string): unknown {
  const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return parse(text);
}

/** Reads a config file as JSON, or as YAML when its name ends in .yaml or .yml. */
export function readConfigFile(path: string): ConfigFile {
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
