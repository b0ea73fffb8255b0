import convict from 'convict';
import { isPostgresUrl } from '../storage/postgres/store-url.ts';

// Value formats shared by the programs' schemas, registered with convict by
// name: convict coerces a variable's or a flag's text with `coerce` and checks
// the value with `validate`. Each `validate` throws a message that says what
// the value must be; the loader puts the flag, variable or file before it.

/**
 * A format as convict takes it, with the parts every format here has.
 * `secret`: a value that may hold a password, which no message repeats.
 */
export type ValueFormat = { name: string; validate(value: unknown): void; coerce?(value: unknown): unknown; secret?: boolean };

/** Whole decimal digits, as a number; anything else is left for `validate` to refuse. */
const digits = (value: unknown) => (typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value);

/**
 * A TCP port, 0 (any free one) included. convict's own "port" reads text with
 * parseInt, which takes "80abc" as 80; this one takes digits only.
 */
export const tcpPort = {
  name: 'tcp-port',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
      throw new Error('ports must be within range 0 - 65535');
    }
  },
  coerce: digits,
} satisfies ValueFormat;

/** A TCP port, 0 included, or nothing (null): for an endpoint that is off unless given a port. */
export const optionalTcpPort = {
  name: 'optional-tcp-port',
  validate(value: unknown) {
    if (value !== null) tcpPort.validate(value);
  },
  coerce: digits,
} satisfies ValueFormat;

export const positiveInteger = {
  name: 'positive-integer',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new Error('must be a positive integer');
  },
  coerce: digits,
} satisfies ValueFormat;

/** The longest a Node timer can wait: 2^31 - 1 ms; longer ones fire at once. */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

export const seconds = {
  name: 'seconds',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER_SECONDS) {
      throw new Error(`must be a positive number of seconds, at most ${MAX_TIMER_SECONDS} (about 24 days, the longest a timer can wait)`);
    }
  },
  coerce: (value: unknown) => (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value),
} satisfies ValueFormat;

/** An instant as ISO 8601 with its offset (Z or ±hh:mm), or '' for none: a time without an offset would depend on the machine's zone. */
export const instant = {
  name: 'instant',
  validate(value: unknown) {
    if (value === '') return;
    if (
      typeof value !== 'string' ||
      !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value) ||
      Number.isNaN(Date.parse(value))
    ) {
      throw new Error('must be a time in ISO 8601 with its offset, such as 2026-12-04T21:00:00-03:00 or 2026-12-05T00:00:00Z');
    }
  },
} satisfies ValueFormat;

/** Session worker threads: more than this only costs memory and start-up time. */
export const MAX_WORKERS = 256;

export const workerCount = {
  name: 'worker-count',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_WORKERS) {
      throw new Error(`must be an integer from 1 to ${MAX_WORKERS}`);
    }
  },
  coerce: digits,
} satisfies ValueFormat;

/**
 * The most agencies a lottery may have. The draw waits for every one of
 * them to finish, so a count far past any real lottery's is a typo that
 * would leave it waiting for ever; each agency also has its state kept.
 */
export const MAX_AGENCIES = 100_000;

export const agencyCount = {
  name: 'agency-count',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_AGENCIES) {
      throw new Error(`must be an integer from 1 to ${MAX_AGENCIES}`);
    }
  },
  coerce: digits,
} satisfies ValueFormat;

/**
 * The most days a certificate may be valid: 100 years. X.509 writes dates
 * only up to 9999-12-31, and OpenSSL cannot read a certificate that claims
 * to outlive that; long before it, a key outlives the algorithm it uses.
 */
export const MAX_CERTIFICATE_DAYS = 36_500;

export const certificateDays = {
  name: 'certificate-days',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_CERTIFICATE_DAYS) {
      throw new Error(`must be a number of days from 1 to ${MAX_CERTIFICATE_DAYS} (100 years)`);
    }
  },
  coerce: digits,
} satisfies ValueFormat;

export const onOff = {
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
} satisfies ValueFormat;

export const hostPort = {
  name: 'host-port',
  validate(value: unknown) {
    if (typeof value !== 'string') return;
    const url = urlAsHostPort(value);
    if (url !== undefined) throw new Error(`must be host:port, not a URL: give ${url}`);
    if (parseHostPort(value) !== undefined) return;
    const port = /:(\d+)$/.exec(value.trim())?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
      throw new Error(`port ${Number(port)} is out of range (1..65535)`);
    throw new Error('must be host:port, e.g. localhost:12345');
  },
} satisfies ValueFormat;

/** The front-ends an agency may use, in the order it tries them: host:port[,host:port...]. */
export const hostPortList = {
  name: 'host-port-list',
  validate(value: unknown) {
    if (typeof value !== 'string') throw new Error('must be host:port, or several as host:port,host:port');
    for (const server of value.split(',')) hostPort.validate(server);
  },
} satisfies ValueFormat;

/** Each host:port of a list that hostPortList took, in order. */
export function parseServerList(value: string): Array<{ host: string; port: number }> {
  return value.split(',').map((server) => parseHostPort(server)!);
}

/** A count that may be 0 (convict's own `nat` says "positive integer" of it). */
export const wholeNumber = {
  name: 'whole-number',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new Error('must be a whole number, 0 or more');
  },
  coerce: digits,
} satisfies ValueFormat;

/** --store: empty for the data dir, or a PostgreSQL URL. The message never repeats the value: it may hold a password. */
export const storeUrl = {
  name: 'store-url',
  secret: true,
  validate(value: unknown) {
    if (typeof value !== 'string' || (value !== '' && !isPostgresUrl(value)))
      throw new Error('must be a PostgreSQL URL, postgres://user@host:port[,host:port...]/database[?options]');
  },
} satisfies ValueFormat;

/** A lottery's name in a --store database: short, and plain enough for a log line and a NOTIFY payload. */
export const lotteryName = {
  name: 'lottery-name',
  validate(value: unknown) {
    if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(value))
      throw new Error('must be 1 to 63 letters, digits, "_", "." or "-", starting with a letter or digit');
  },
} satisfies ValueFormat;

/**
 * What a URL given where host:port is wanted means, as host:port (the
 * lottery speaks its own protocol, not HTTP): "http://h:1/" gives "h:1",
 * and a URL with no port "h:12345". Undefined for what is no URL.
 */
export function urlAsHostPort(value: string): string | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) return undefined;
  try {
    const url = new URL(value.trim());
    return `${url.hostname}:${url.port === '' ? '12345' : url.port}`;
  } catch {
    return 'host:port, e.g. localhost:12345';
  }
}

export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(value.trim());
  // A host holds no slash: "http://h:1" is a URL, which hostPort names as such.
  if (match === null || match[1].includes('/')) return undefined;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535 ? { host: match[1], port } : undefined;
}

/** Every format a schema may name. */
export const FORMATS = {
  'tcp-port': tcpPort,
  'optional-tcp-port': optionalTcpPort,
  'positive-integer': positiveInteger,
  'whole-number': wholeNumber,
  seconds,
  'worker-count': workerCount,
  'agency-count': agencyCount,
  'certificate-days': certificateDays,
  'on-off': onOff,
  'host-port': hostPort,
  'host-port-list': hostPortList,
  'store-url': storeUrl,
  'lottery-name': lotteryName,
  instant,
} as const satisfies Record<string, ValueFormat>;

export type FormatName = keyof typeof FORMATS;

/** Whether a setting of this format may hold a password, so that no message repeats its value. */
export function isSecretFormat(format: SettingFormat): boolean {
  return typeof format === 'string' && (FORMATS as Record<string, ValueFormat>)[format]?.secret === true;
}

/** What a setting's value may be: a format named here, one of a list of words, or any text. */
export type SettingFormat = FormatName | readonly string[] | StringConstructor;

/** The check of a setting's value, throwing what the value must be (for a list or text, in convict's words). */
export function validatorOf(format: SettingFormat): (value: unknown) => void {
  if (format === String) {
    return (value) => {
      if (typeof value !== 'string') throw new Error('must be of type String');
    };
  }
  if (Array.isArray(format)) {
    return (value) => {
      if (typeof value !== 'string' || !format.includes(value))
        throw new Error(`must be one of the possible values: ${JSON.stringify(format)}`);
    };
  }
  return FORMATS[format as FormatName].validate;
}

convict.addFormats(FORMATS);
