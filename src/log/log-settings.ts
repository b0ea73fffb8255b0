// The logging settings every program takes, apart from the logger itself:
// the configuration reads them before a program has loaded pino, which a
// server that listens first does only once it listens.
export type LogFormat = 'text' | 'json';
export const LOG_FORMATS = ['text', 'json'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
