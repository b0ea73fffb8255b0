import { isatty } from 'node:tty';
import { pino, type Logger, type DestinationStream } from 'pino';

// Every log line is an event: `action`, then `result`, then details.
// The text format is the course's:
//   2026-11-22 13:21:05 INFO     action: apuesta_recibida | result: success | cantidad: 64
// and `json` is pino's own, for log pipelines: level names, ISO times, lists
// as arrays. Both write whole lines synchronously, so nothing is lost on exit
// and threads never interleave inside a line. On a terminal (and without
// NO_COLOR) the text line's level is coloured, so warnings and errors stand out.

export type { Logger };
export { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './log-settings.ts';
import type { LogFormat, LogLevel } from './log-settings.ts';
export type EventResult = 'success' | 'fail' | 'in_progress';

export type LoggerOptions = {
  level: LogLevel;
  format: LogFormat;
  fd?: number;
  /** Where whole lines go in place of `fd` (a test reading what a component logs). */
  write?: (line: string) => void;
  /** Colour the level of text lines; default: when `fd` is a terminal and NO_COLOR is not set. */
  color?: boolean;
  /** Actions whose `success` lines are not written (their failures still are): per-batch lines an operator drops. */
  dropSuccessOf?: readonly string[];
  /** Fields every JSON line carries (the agency's id, say); the text format keeps the course's lines as they are. */
  jsonFields?: Record<string, unknown>;
  /** A line kept at the bottom of the terminal (the agency's progress): cleared before each log line, drawn again after. */
  around?: { clear(): void; redraw(): void };
};

/** The server's lines logged once per batch: `--log-batches off` drops their success lines. */
export const PER_BATCH_ACTIONS = ['apuesta_recibida'] as const;

export function createLogger(options: LoggerOptions): Logger {
  const log = createBaseLogger(options);
  if (options.format === 'json' && options.jsonFields !== undefined) return withFields(log, options.jsonFields);
  return log;
}

/** The fields a logger made by withFields adds to each of its lines. */
const FIELDS = Symbol('fields');
type FieldsLogger = Logger & { [FIELDS]?: Record<string, unknown> };

/**
 * A logger whose every line also carries `fields` (the session's agency),
 * after the event's own: `action` stays first in JSON as in text. Pino's
 * child bindings would be written before every field of the line.
 */
export function withFields(log: Logger, fields: Record<string, unknown>): Logger {
  const child = log.child({}) as FieldsLogger;
  child[FIELDS] = { ...(log as FieldsLogger)[FIELDS], ...fields };
  return child;
}

/**
 * Pino options that add withFields's fields to each line (an event's own
 * value wins). JSON: after the event's fields, so `action` comes first. Text:
 * before them, since the text line puts `action` and `result` first anyway
 * and the agency reads best right after them.
 */
const withFieldsAt = (place: 'after' | 'before') => ({
  mixin: (_event: object, _level: number, logger: Logger) => (logger as FieldsLogger)[FIELDS] ?? {},
  mixinMergeStrategy: (event: object, fields: object) =>
    place === 'after' ? Object.assign({}, event, fields, event) : Object.assign({}, fields, event),
});

function createBaseLogger({
  level,
  format,
  fd = 1,
  write: writeLine,
  color = colorWanted(fd),
  around,
  dropSuccessOf = [],
}: LoggerOptions): Logger {
  const dropped = new Set(dropSuccessOf);
  const hooks =
    dropped.size === 0
      ? {}
      : {
          hooks: {
            logMethod(this: Logger, args: Parameters<Logger['info']>, method: (...args: unknown[]) => void) {
              const event = args[0] as { action?: unknown; result?: unknown } | undefined;
              if (typeof event === 'object' && event !== null && event.result === 'success' && dropped.has(event.action as string)) return;
              method.apply(this, args);
            },
          },
        };
  const destination = writeLine === undefined ? pino.destination({ fd, sync: true }) : { write: writeLine };
  const write = (line: string) => {
    around?.clear();
    destination.write(line);
    around?.redraw();
  };
  if (format === 'json') {
    return pino(
      {
        level,
        base: null,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        ...withFieldsAt('after'),
        ...hooks,
      },
      around === undefined ? (destination as DestinationStream) : { write },
    );
  }
  // The text line is made from pino's own JSON, whose level is a number and time an epoch.
  const stream: DestinationStream = { write: (line) => write(formatTextLine(line, { color })) };
  return pino({ level, base: null, timestamp: pino.stdTimeFunctions.epochTime, ...withFieldsAt('before'), ...hooks }, stream);
}

/** https://no-color.org: any non-empty NO_COLOR turns colour off. */
export function colorWanted(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  return isatty(fd) && !env.NO_COLOR;
}

/** Logs one event; `result` always comes second on the line. */
export function logEvent(
  log: Logger,
  level: 'debug' | 'info' | 'warn' | 'error',
  action: string,
  result: EventResult,
  details: Record<string, unknown> = {},
): void {
  if (log.isLevelEnabled(level)) log[level]({ action, result, ...details });
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARNING', 50: 'ERROR', 60: 'CRITICAL' };
/** SGR colours by level: debug dim, warning yellow, error red, critical bold red. */
const LEVEL_COLORS: Record<number, string> = { 10: '2', 20: '2', 40: '33', 50: '31', 60: '1;31' };

/** Turns one pino JSON line into the course's text line. */
export function formatTextLine(json: string, { color = false } = {}): string {
  const { level, time, action, result, msg, ...details } = JSON.parse(json) as Record<string, unknown>;
  const name = (LEVEL_NAMES[level as number] ?? String(level)).padEnd(8);
  const sgr = color ? LEVEL_COLORS[level as number] : undefined;
  let line = `${formatLocalTime(new Date(time as number))} ${sgr === undefined ? name : `\x1b[${sgr}m${name}\x1b[0m`} `;
  const parts: string[] = [];
  if (action !== undefined) parts.push(`action: ${action}`);
  if (result !== undefined) parts.push(`result: ${result}`);
  for (const [key, value] of Object.entries(details)) parts.push(`${key}: ${formatValue(value)}`);
  if (msg !== undefined) parts.push(`message: ${msg}`);
  line += parts.join(' | ');
  return `${line}\n`;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(formatValue).join(',');
  return JSON.stringify(value);
}

function formatLocalTime(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** The `config` line a program logs at start: every setting in force. */
export function logConfig(log: Logger, config: Record<string, unknown>, notes: Record<string, unknown> = {}): void {
  const { config: file, ...settings } = config;
  // A setting left empty (a TLS file not given) is not shown, and a switch reads as its flag takes it: on or off.
  const shown = Object.fromEntries(
    Object.entries(settings)
      .filter(([, value]) => value !== '')
      .map(([key, value]) => [key, typeof value === 'boolean' ? (value ? 'on' : 'off') : value]),
  );
  logEvent(log, 'info', 'config', 'success', { ...shown, ...(file ? { config: file } : {}), ...notes });
}
