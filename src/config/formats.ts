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

export const seconds: convict.Format = {
  name: 'seconds',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error('must be a positive number of seconds');
  },
  coerce: (value: unknown) => (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value),
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
    if (typeof value !== 'string' || parseHostPort(value) === undefined) {
      throw new Error('must be host:port, e.g. localhost:12345');
    }
  },
};

export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(value.trim());
  if (match === null) return undefined;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535 ? { host: match[1], port } : undefined;
}

convict.addFormats({ 'positive-integer': positiveInteger, seconds, 'on-off': onOff, 'host-port': hostPort });
