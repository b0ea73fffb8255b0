import test from 'ava';
import * as errors from '../src/errors.ts';

const codeLists = {
  ErrorCode: errors.ErrorCode,
  ClientFailure: errors.ClientFailure,
  TlsFailure: errors.TlsFailure,
  LocalFailure: errors.LocalFailure,
};

/** Every error class the module exports, made as its callers make it. */
const samples: Error[] = [
  new errors.ProtocolError(errors.ErrorCode.BAD_FRAME, 'x'),
  new errors.InvalidBetError('number', 'x'),
  new errors.ConnectionRefused(errors.CLOSED_UNSPOKEN, 'x'),
  new errors.ConnectionError(errors.ClientFailure.TIMEOUT, 'x'),
  new errors.AgencyError('x'),
  new errors.DataFileError('x'),
  new errors.CsvSyntaxError(3, 'x'),
  new errors.StoreFailedError('x'),
  new errors.StoreUnavailableError(),
  new errors.StoreRecoveryError('x'),
  new errors.StoredDataError('x'),
  new errors.JournalCorruptError('x'),
  new errors.DataDirLockedError('x', undefined),
  new errors.ActorGoneError('x'),
  new errors.GateClosed(),
  new errors.ConfigExit('x', 2),
  new errors.CommandLineError('x'),
  new errors.ConfigFileError('x'),
  new errors.PkiError('x'),
];

test('every error class of the module is exercised here, so none escapes the checks below', (t) => {
  const classes = Object.entries(errors).filter(([, value]) => typeof value === 'function' && value.prototype instanceof Error);
  const sampled = new Set(samples.map((error) => error.constructor));
  t.deepEqual(
    classes.filter(([name, value]) => name !== 'CodedError' && !sampled.has(value as never)).map(([name]) => name),
    [],
  );
});

test('every error has a stable code from the lists, and a name that says its class', (t) => {
  const known = new Set<string>([errors.CLOSED_UNSPOKEN, ...Object.values(codeLists).flatMap((list) => Object.values(list))]);
  for (const error of samples) {
    t.true(error instanceof errors.CodedError, error.name);
    t.true(known.has((error as errors.CodedError<string>).code), `${error.name}: ${(error as errors.CodedError<string>).code}`);
    t.is(error.name, error.constructor.name);
  }
});

test('a code means one thing: the local codes never reuse a code the wire or a client gives', (t) => {
  const local = Object.values(errors.LocalFailure) as string[];
  const others = new Set<string>([
    ...Object.values(errors.ErrorCode),
    ...Object.values(errors.ClientFailure),
    ...Object.values(errors.TlsFailure),
  ]);
  t.deepEqual(
    local.filter((code) => others.has(code)),
    [],
  );
  t.is(new Set(local).size, local.length);
});

test('a bad bet is refused on the wire with INVALID_BET and names its field', (t) => {
  const error = new errors.InvalidBetError('birthdate', 'birthdate must be a date');
  t.is(error.code, errors.ErrorCode.INVALID_BET);
  t.is(error.field, 'birthdate');
});

test('an error keeps the cause it wraps', (t) => {
  const cause = new Error('EACCES');
  t.is(new errors.DataFileError('the bets file x cannot be read', { cause }).cause, cause);
});
