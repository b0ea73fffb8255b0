import { pino, type Logger, type DestinationStream } from 'pino';

// Every log line is an event: `action`, then `result`, then details.
// The text format is the course's:
//   2026-11-22 13:21:05 INFO     action: apuesta_recibida | result: success | cantidad: 64
// and `json` is pino's own, for log pipelines. Both write whole lines
// synchronously, so nothing is lost on exit and threads never interleave
// inside a line.

export type { Logger };
export type LogFormat = 'text' | 'json';
export const LOG_FORMATS = ['text', 'json'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type EventResult = 'success' | 'fail' | 'in_progress';

export type LoggerOptions = { level: LogLevel; format: LogFormat; fd?: number };

export function createLogger({ level, format, fd = 1 }: LoggerOptions): Logger {
  const destination = pino.destination({ fd, sync: true });
  const stream: DestinationStream = format === 'json' ? destination : { write: (line) => destination.write(formatTextLine(line)) };
  return pino({ level, base: null, timestamp: pino.stdTimeFunctions.epochTime }, stream);
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

/** Turns one pino JSON line into the course's text line. */
export function formatTextLine(json: string): string {
  const { level, time, action, result, msg, ...details } = JSON.parse(json) as Record<string, unknown>;
  let line = `${formatLocalTime(new Date(time as number))} ${(LEVEL_NAMES[level as number] ?? String(level)).padEnd(8)} `;
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
  logEvent(log, 'info', 'config', 'success', { ...settings, ...(file ? { config: file } : {}), ...notes });
}
