import convict from 'convict';

// Value formats shared by the programs' schemas. Each throws a message that
// says what the value must be; convict prefixes it with the key.

export const positiveInteger: convict.Format = {
  name: 'positive-integer',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new Error('must be a positive integer');
  },
  coerce: (value: unknown) => (typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
};

/** The longest a Node timer can wait: 2^31 - 1 ms; longer ones fire at once. */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

export const seconds: convict.Format = {
  name: 'seconds',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER_SECONDS) {
      throw new Error(`must be a positive number of seconds, at most ${MAX_TIMER_SECONDS} (about 24 days, the longest a timer can wait)`);
    }
  },
  coerce: (value: unknown) => (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value),
};

/** Session worker threads: more than this only costs memory and start-up time. */
export const MAX_WORKERS = 256;

export const workerCount: convict.Format = {
  name: 'worker-count',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_WORKERS) {
      throw new Error(`must be an integer from 1 to ${MAX_WORKERS}`);
    }
  },
  coerce: positiveInteger.coerce,
};

export const onOff: convict.Format = {
  name: 'on-off',
  validate(value: unknown) {
    if (typeof value !== 'boolean') throw new Error('must be on or off');
  },
  coerce: (value: unknown) => {
    if (typeof value !== 'string') return value;
    const text = value.trim().toLowerCase();
    if (['on', 'true', '1', 'yes'].includes(text)) return true;
    if (['off', 'false', '0', 'no'].includes(text)) return false;
    return value;
  },
};

export const hostPort: convict.Format = {
  name: 'host-port',
  validate(value: unknown) {
    if (typeof value !== 'string' || parseHostPort(value) !== undefined) return;
    const port = /:(\d+)$/.exec(value.trim())?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
      throw new Error(`port ${Number(port)} is out of range (1..65535)`);
    throw new Error('must be host:port, e.g. localhost:12345');
  },
};

/** A count that may be 0 (convict's own `nat` says "positive integer" of it). */
export const wholeNumber: convict.Format = {
  name: 'whole-number',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new Error('must be a whole number, 0 or more');
  },
  coerce: (value: unknown) => (typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
};

export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(value.trim());
  if (match === null) return undefined;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535 ? { host: match[1], port } : undefined;
}

convict.addFormats({
  'positive-integer': positiveInteger,
  'whole-number': wholeNumber,
  seconds,
  'worker-count': workerCount,
  'on-off': onOff,
  'host-port': hostPort,
});
