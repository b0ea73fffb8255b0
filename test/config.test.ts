import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { agencySchema, loadAgencyConfig } from '../src/config/agency-config.ts';
import { parseHostPort } from '../src/config/formats.ts';
import { loadProgramConfig, projectVersion, type Schema } from '../src/config/program-config.ts';
import { defaultWorkers, loadServerConfig, serverSchema } from '../src/config/server-config.ts';
import { ConfigExit } from '../src/errors.ts';

async function configFile(t: ExecutionContext, content: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'config.json');
  await writeFile(path, JSON.stringify(content));
  return path;
}

/** The ConfigExit a load throws. */
function exitOf(t: ExecutionContext, load: () => unknown, label?: string): ConfigExit {
  const error = t.throws(load, { instanceOf: ConfigExit }, label);
  if (error === undefined) throw new Error(`${label ?? 'load'} did not throw ConfigExit`);
  return error;
}

test('the server has the documented defaults', (t) => {
  t.deepEqual(loadServerConfig([], {}), {
    port: 12345,
    host: '0.0.0.0',
    agencies: 5,
    dataDir: '.data',
    store: '',
    lottery: 'default',
    // One session worker per 8 agencies: five need one.
    workers: 1,
    fsync: true,
    maxConnections: 16384,
    maxUnauthenticatedPerAddress: 1024,
    handshakeTimeout: 10,
    handshakeQueueTimeout: 60,
    maxHandshakes: 32,
    idleTimeout: 60,
    frameTimeout: 10,
    httpPort: null,
    httpHost: '127.0.0.1',
    httpPlain: false,
    closeAt: '',
    resultsCert: '',
    resultsKey: '',
    tlsCa: '',
    tlsCert: '',
    tlsKey: '',
    tlsCrl: '',
    logLevel: 'info',
    logFormat: 'text',
    logBatches: true,
    logRefusals: 5,
    config: '',
  });
});

test('the agency has the documented defaults once given its id', (t) => {
  t.deepEqual(loadAgencyConfig(['--id', '3'], {}), {
    id: 3,
    server: 'localhost:12345',
    dataFile: '.data/agency-3.csv',
    batchMaxAmount: 0,
    check: false,
    skipInvalid: false,
    winnersTimeout: 300,
    replyTimeout: 30,
    retryTimeout: 60,
    tlsCa: '',
    tlsCert: '',
    tlsKey: '',
    logLevel: 'info',
    logFormat: 'text',
    config: '',
  });
});

test('every server setting can be set by flag and by environment variable', (t) => {
  const flags = loadServerConfig(
    [
      '--port',
      '2000',
      '--host',
      '127.0.0.1',
      '--agencies',
      '7',
      '--data-dir',
      '/tmp/x',
      '--store',
      'postgres://lottery:secret@db1:5432,db2:5432/lottery?target_session_attrs=read-write',
      '--lottery',
      'spring-2026',
      '--workers',
      '3',
      '--fsync',
      'off',
      '--max-connections',
      '9',
      '--max-unauthenticated-per-address',
      '5',
      '--tls-ca',
      'ca.pem',
      '--tls-cert',
      'c.pem',
      '--tls-key',
      'k.pem',
      '--tls-crl',
      'r.pem',
      '--handshake-timeout',
      '1.5',
      '--handshake-queue-timeout',
      '120',
      '--max-handshakes',
      '6',
      '--idle-timeout',
      '2',
      '--frame-timeout',
      '0.5',
      '--http-port',
      '9090',
      '--http-host',
      '::1',
      '--http-plain',
      '--close-at',
      '2026-12-24T21:00:00-03:00',
      '--results-cert',
      'results.crt',
      '--results-key',
      'results.key',
      '--log-level',
      'debug',
      '--log-format',
      'json',
      '--log-batches',
      'off',
      '--log-refusals',
      '50',
    ],
    {},
  );
  const env = loadServerConfig([], {
    SERVER_PORT: '2000',
    SERVER_HOST: '127.0.0.1',
    LOTTERY_AGENCIES: '7',
    LOTTERY_DATA_DIR: '/tmp/x',
    LOTTERY_STORE: 'postgres://lottery:secret@db1:5432,db2:5432/lottery?target_session_attrs=read-write',
    LOTTERY_NAME: 'spring-2026',
    LOTTERY_WORKERS: '3',
    LOTTERY_FSYNC: 'off',
    LOTTERY_MAX_CONNECTIONS: '9',
    LOTTERY_MAX_UNAUTHENTICATED_PER_ADDRESS: '5',
    LOTTERY_TLS_CA: 'ca.pem',
    LOTTERY_TLS_CERT: 'c.pem',
    LOTTERY_TLS_KEY: 'k.pem',
    LOTTERY_TLS_CRL: 'r.pem',
    LOTTERY_HANDSHAKE_TIMEOUT: '1.5',
    LOTTERY_HANDSHAKE_QUEUE_TIMEOUT: '120',
    LOTTERY_MAX_HANDSHAKES: '6',
    LOTTERY_IDLE_TIMEOUT: '2',
    LOTTERY_FRAME_TIMEOUT: '0.5',
    LOTTERY_HTTP_PORT: '9090',
    LOTTERY_HTTP_HOST: '::1',
    LOTTERY_HTTP_PLAIN: 'on',
    LOTTERY_CLOSE_AT: '2026-12-24T21:00:00-03:00',
    LOTTERY_RESULTS_CERT: 'results.crt',
    LOTTERY_RESULTS_KEY: 'results.key',
    LOGGING_LEVEL: 'debug',
    LOG_FORMAT: 'json',
    LOG_BATCHES: 'off',
    LOG_REFUSALS: '50',
  });
  const expected = {
    port: 2000,
    host: '127.0.0.1',
    agencies: 7,
    dataDir: '/tmp/x',
    store: 'postgres://lottery:secret@db1:5432,db2:5432/lottery?target_session_attrs=read-write',
    lottery: 'spring-2026',
    workers: 3,
    fsync: false,
    maxConnections: 9,
    maxUnauthenticatedPerAddress: 5,
    handshakeTimeout: 1.5,
    handshakeQueueTimeout: 120,
    maxHandshakes: 6,
    httpPort: 9090,
    httpHost: '::1',
    httpPlain: true,
    logBatches: false,
    logRefusals: 50,
    idleTimeout: 2,
    frameTimeout: 0.5,
    closeAt: '2026-12-24T21:00:00-03:00',
    resultsCert: 'results.crt',
    resultsKey: 'results.key',
    tlsCa: 'ca.pem',
    tlsCert: 'c.pem',
    tlsKey: 'k.pem',
    tlsCrl: 'r.pem',
    logLevel: 'debug',
    logFormat: 'json',
    config: '',
  };
  t.deepEqual(flags, expected);
  t.deepEqual(env, expected);
});

test('--close-at takes ISO 8601 with an offset only; --results-cert and --results-key go together', (t) => {
  t.is(loadServerConfig(['--close-at', '2026-12-05T00:00:00Z'], {}).closeAt, '2026-12-05T00:00:00Z');
  for (const bad of ['2026-12-24 21:00', '2026-12-24T21:00:00', 'tomorrow', '2026-13-40T25:00:00Z']) {
    const error = t.throws(() => loadServerConfig(['--close-at', bad], {}));
    t.regex(error!.message, /--close-at \(LOTTERY_CLOSE_AT\).*ISO 8601 with its offset/, bad);
  }
  t.regex(
    t.throws(() => loadServerConfig(['--results-cert', 'r.crt'], {}))!.message,
    /--results-key \(LOTTERY_RESULTS_KEY\): --results-cert and --results-key go together/,
  );
});

test('without --workers there is one session worker per 8 agencies, at most one per core; given, it is taken as is', async (t) => {
  const cores = availableParallelism();
  t.is(loadServerConfig(['--agencies', '1'], {}).workers, 1);
  t.is(loadServerConfig(['--agencies', '8'], {}).workers, 1);
  t.is(loadServerConfig(['--agencies', '9'], {}).workers, Math.min(2, cores));
  t.is(loadServerConfig(['--agencies', '64'], {}).workers, Math.min(8, cores));
  t.is(loadServerConfig([], { LOTTERY_AGENCIES: '10000' }).workers, Math.min(256, cores));
  t.is(defaultWorkers(10_000, 512), 256);
  t.is(defaultWorkers(64, 1), 1);
  // Given by a flag, a variable or the config file, the count is the one given, whatever the agencies.
  t.is(loadServerConfig(['--agencies', '64', '--workers', '1'], {}).workers, 1);
  t.is(loadServerConfig(['--agencies', '2'], { LOTTERY_WORKERS: '3' }).workers, 3);
  t.is(loadServerConfig(['--config', await configFile(t, { agencies: 2, workers: 4 })], {}).workers, 4);
});

test('the environment overrides the config file and flags override the environment', async (t) => {
  const path = await configFile(t, { port: 2000, agencies: 3, dataDir: '/from/file', logLevel: 'warn' });
  const fileOnly = loadServerConfig(['--config', path], {});
  t.like(fileOnly, { port: 2000, agencies: 3, dataDir: '/from/file', logLevel: 'warn', config: path });
  const fileAndEnv = loadServerConfig(['--config', path], { SERVER_PORT: '3000', LOTTERY_DATA_DIR: '/from/env' });
  t.like(fileAndEnv, { port: 3000, agencies: 3, dataDir: '/from/env', logLevel: 'warn' });
  const all = loadServerConfig(['--config', path, '--port', '4000'], { SERVER_PORT: '3000', LOTTERY_DATA_DIR: '/from/env' });
  t.like(all, { port: 4000, agencies: 3, dataDir: '/from/env', logLevel: 'warn' });
  // The config file named by the environment works the same way.
  t.like(loadServerConfig([], { LOTTERY_CONFIG: path, SERVER_PORT: '3000' }), { port: 3000, agencies: 3 });
});

test('the agency takes the same precedence: file < environment < flags', async (t) => {
  const path = await configFile(t, { id: 2, server: 'file:1', batchMaxAmount: 10 });
  t.like(loadAgencyConfig(['--config', path], {}), { id: 2, server: 'file:1', batchMaxAmount: 10, dataFile: '.data/agency-2.csv' });
  t.like(loadAgencyConfig(['--config', path], { CLI_ID: '4', CLI_SERVER_ADDRESS: 'env:2' }), {
    id: 4,
    server: 'env:2',
    batchMaxAmount: 10,
  });
  t.like(loadAgencyConfig(['--config', path, '--server', 'flag:3', '--batch-max-amount', '64'], { CLI_SERVER_ADDRESS: 'env:2' }), {
    id: 2,
    server: 'flag:3',
    batchMaxAmount: 64,
  });
});

test('bad values exit 2 with a message naming the key', (t) => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--port', '70000'], {}, /--port/],
    [['--port', 'http'], {}, /--port/],
    [['--agencies', '0'], {}, /--agencies/],
    [['--agencies', '2.5'], {}, /--agencies/],
    [['--workers', '-1'], {}, /--workers/],
    [['--log-format', 'xml'], {}, /--log-format/],
    [['--log-level', 'loud'], {}, /--log-level/],
    [['--fsync', 'maybe'], {}, /--fsync/],
    [['--idle-timeout', '0'], {}, /--idle-timeout/],
    // Past 2^31 - 1 ms a Node timer fires at once: refused, not overflowed.
    [['--idle-timeout', '2147484'], {}, /--idle-timeout.*at most 2147483/],
    [['--handshake-timeout', '1e10'], {}, /--handshake-timeout/],
    [['--handshake-queue-timeout', '0'], {}, /--handshake-queue-timeout/],
    [['--frame-timeout', '3000000'], {}, /--frame-timeout.*at most 2147483/],
    [['--frame-timeout', '0'], {}, /--frame-timeout/],
    [[], { LOTTERY_HANDSHAKE_TIMEOUT: '2147484' }, /LOTTERY_HANDSHAKE_TIMEOUT/],
    [['--workers', '0'], {}, /--workers.*from 1 to 256/],
    [['--workers', '257'], {}, /--workers.*from 1 to 256/],
    [[], { LOTTERY_WORKERS: '100000' }, /LOTTERY_WORKERS/],
    [[], { SERVER_PORT: '70000' }, /SERVER_PORT/],
    [[], { LOTTERY_AGENCIES: 'five' }, /LOTTERY_AGENCIES/],
  ];
  for (const [argv, env, names] of cases) {
    const exit = exitOf(t, () => loadServerConfig(argv, env), argv.join(' ') || JSON.stringify(env));
    t.is(exit.exitCode, 2, exit.message);
    t.regex(exit.message, names);
    t.regex(exit.message, /^lottery-server: /);
  }
});

test('a bad value in the config file exits 2 naming the key as the file has it, and the file, not a flag never used', async (t) => {
  const path = await configFile(t, { port: 'not a port' });
  const exit = exitOf(t, () => loadServerConfig(['--config', path], {}));
  t.is(exit.exitCode, 2);
  t.is(
    exit.message.split('\n')[0],
    `lottery-server: "port" in config file ${path}: ports must be within range 0 - 65535, got "not a port"`,
  );
  t.notRegex(exit.message, /--port|SERVER_PORT/);
});

test('a bad value is blamed on where it came from: the flag or variable that overrides the file', async (t) => {
  const path = await configFile(t, { port: 2000 });
  t.regex(exitOf(t, () => loadServerConfig(['--config', path, '--port', 'x'], {})).message, /^lottery-server: --port \(SERVER_PORT\): /);
  t.regex(exitOf(t, () => loadServerConfig(['--config', path], { SERVER_PORT: 'x' })).message, /^lottery-server: --port \(SERVER_PORT\): /);
});

test('an unknown key in the config file exits 2 naming it and the file', async (t) => {
  const path = await configFile(t, { prot: 2000 });
  const exit = exitOf(t, () => loadServerConfig(['--config', path], {}));
  t.is(exit.exitCode, 2);
  t.is(exit.message.split('\n')[0], `lottery-server: config file ${path}: unknown key "prot"`);
});

test('a config file that is not JSON is reported in one line naming it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'server.json');
  await writeFile(path, '{"port": 12\n');
  const exit = exitOf(t, () => loadServerConfig(['--config', path], {}));
  t.is(exit.exitCode, 2);
  const [first, ...rest] = exit.message.split('\n');
  t.regex(first, new RegExp(`^lottery-server: config file ${path} is not valid JSON: \\S`));
  t.deepEqual(rest, ["Try 'lottery-server --help'."]);
  await writeFile(path, '[1, 2]');
  t.regex(exitOf(t, () => loadServerConfig(['--config', path], {})).message, /config file .* must hold an object of settings/);
});

test('a config file named .yaml or .yml is read as YAML; a bad one is reported in one line naming it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const name of ['server.yaml', 'server.yml']) {
    const path = join(dir, name);
    await writeFile(path, 'port: 2001\nagencies: 7\n');
    t.like(loadServerConfig(['--config', path], {}), { port: 2001, agencies: 7 });
    await writeFile(path, 'port: [1\n  x: :\n');
    const exit = exitOf(t, () => loadServerConfig(['--config', path], {}));
    t.is(exit.exitCode, 2);
    const [first, ...rest] = exit.message.split('\n');
    t.regex(first, new RegExp(`^lottery-server: config file ${path} is not valid YAML: \\S.*[^:]$`));
    t.deepEqual(rest, ["Try 'lottery-server --help'."]);
  }
});

test('an address whose port is out of range says so', (t) => {
  for (const server of ['127.0.0.1:70000', 'localhost:0']) {
    const exit = exitOf(t, () => loadAgencyConfig(['--id', '1', '--server', server], {}));
    t.regex(exit.message, /^lottery-agency: --server \(CLI_SERVER_ADDRESS\): port \d+ is out of range \(1\.\.65535\)/, server);
  }
  t.regex(exitOf(t, () => loadAgencyConfig(['--id', '1', '--server', 'nowhere'], {})).message, /must be host:port/);
});

test('--batch-max-amount takes 0 (as many as fit) and says so of a bad value', (t) => {
  t.is(loadAgencyConfig(['--id', '1', '--batch-max-amount', '0'], {}).batchMaxAmount, 0);
  for (const value of ['-3', '1.5', 'many']) {
    const exit = exitOf(t, () => loadAgencyConfig(['--id', '1', '--batch-max-amount', value], {}), value);
    t.regex(exit.message, /^lottery-agency: --batch-max-amount \(CLI_BATCH_MAXAMOUNT\): must be a whole number, 0 or more/, value);
  }
});

test('a config file that does not exist exits 2', (t) => {
  const exit = exitOf(t, () => loadServerConfig(['--config', join(tmpdir(), 'no-such-lottery-config.json')], {}));
  t.is(exit.exitCode, 2);
  t.regex(exit.message, /no-such-lottery-config/);
});

test('an unknown option exits 2 naming it', (t) => {
  for (const argv of [['--prot', '2000'], ['--port', '2000', '--verbose'], ['-x']]) {
    const exit = exitOf(t, () => loadServerConfig(argv, {}), argv.join(' '));
    t.is(exit.exitCode, 2);
    t.regex(exit.message, /unknown option/);
    t.regex(exit.message, new RegExp(argv.find((arg) => arg.startsWith('-') && !['--port'].includes(arg))!));
  }
  t.is(exitOf(t, () => loadAgencyConfig(['--id', '1', '--agencies', '3'], {})).exitCode, 2);
});

test('an unknown option a letter or two off a known one is told which was meant', (t) => {
  const suggested: Array<[string[], string]> = [
    [['--prot', '2000'], '--port'],
    [['--data-dri', 'x'], '--data-dir'],
    [['--worker', '3'], '--workers'],
  ];
  for (const [argv, meant] of suggested) {
    const exit = exitOf(t, () => loadServerConfig(argv, {}), argv[0]);
    t.is(exit.exitCode, 2);
    t.is(exit.message.split('\n')[0], `lottery-server: unknown option '${argv[0]}' (did you mean ${meant}?)`);
  }
  for (const argv of [['--verbose'], ['-x']]) {
    t.is(exitOf(t, () => loadServerConfig(argv, {})).message.split('\n')[0], `lottery-server: unknown option '${argv[0]}'`);
  }
});

test("a flag's value reaches its setting as written, even one that reads as a number or is quoted", (t) => {
  t.like(loadServerConfig(['--data-dir', '1.50', '--host', '0x10', '--tls-ca', "'ca.pem'"], {}), {
    dataDir: '1.50',
    host: '0x10',
    tlsCa: "'ca.pem'",
  });
});

test('a port is written in digits: trailing letters are refused, not cut off', (t) => {
  for (const [argv, env] of [
    [['--port', '80abc'], {}],
    [['--port', '0x10'], {}],
    [[], { SERVER_PORT: '80abc' }],
    [[], { SERVER_PORT: '0x10' }],
  ] as const) {
    const exit = exitOf(t, () => loadServerConfig([...argv], env));
    const given = argv[1] ?? (env as { SERVER_PORT?: string }).SERVER_PORT;
    t.is(exit.message.split('\n')[0], `lottery-server: --port (SERVER_PORT): ports must be within range 0 - 65535, got "${given}"`);
  }
  t.is(loadServerConfig(['--port', '0'], {}).port, 0);
});

test('every bad value is told at once, one line each in schema order, then the config file keys the schema lacks', async (t) => {
  const path = await configFile(t, { prot: 1, workers: 0, host: 5 });
  const exit = exitOf(t, () => loadServerConfig(['--config', path, '--agencies', 'five'], { LOG_FORMAT: 'xml' }));
  t.is(exit.exitCode, 2);
  t.deepEqual(exit.message.split('\n'), [
    `lottery-server: "host" in config file ${path}: must be of type String, got 5`,
    'lottery-server: --agencies (LOTTERY_AGENCIES): must be an integer from 1 to 100000, got "five"',
    `lottery-server: "workers" in config file ${path}: must be an integer from 1 to 256, got 0`,
    'lottery-server: --log-format (LOG_FORMAT): must be one of the possible values: ["text","json"], got "xml"',
    `lottery-server: config file ${path}: unknown key "prot"`,
    "Try 'lottery-server --help'.",
  ]);
});

test('--agencies is bounded: a count past any real lottery is a typo the draw would wait on for ever', (t) => {
  for (const agencies of ['100001', '100000000000', '0']) {
    const exit = exitOf(t, () => loadServerConfig(['--agencies', agencies], {}));
    t.is(exit.exitCode, 2);
    t.is(
      exit.message.split('\n')[0],
      `lottery-server: --agencies (LOTTERY_AGENCIES): must be an integer from 1 to 100000, got "${agencies}"`,
    );
  }
  t.is(loadServerConfig(['--agencies', '100000'], {}).agencies, 100_000);
});

test('a switch given alone means on; given a value, it takes it only written inline', (t) => {
  const program = { name: 'switches', summary: 'A program with a switch.', usage: 'switches [--force]' };
  const schema = {
    force: { doc: 'replace what is there', format: 'on-off', default: false, env: 'FORCE', arg: 'force', isSwitch: true },
    out: { doc: 'where to write', format: String, default: 'out', env: 'OUT', arg: 'out' },
  } satisfies Schema;
  const load = (argv: string[], env: Record<string, string> = {}) =>
    loadProgramConfig<{ force: boolean; out: string }>(program, schema, argv, env);
  t.false(load([]).force);
  t.true(load(['--force']).force);
  t.true(load(['--force', '--out', 'x']).force);
  t.false(load(['--force=off']).force);
  t.true(load([], { FORCE: 'on' }).force);
  t.false(load(['--force=off'], { FORCE: 'on' }).force, 'the flag over the variable');
  t.regex(exitOf(t, () => load(['--force', 'off'])).message, /^switches: unexpected argument 'off'/);
  t.regex(exitOf(t, () => load(['--force', '--force'])).message, /^switches: option '--force' is given more than once/);
  t.regex(exitOf(t, () => load(['--force=maybe'])).message, /^switches: --force \(FORCE\): must be on or off/);
  // A setting that is no switch still needs its value.
  t.regex(exitOf(t, () => load(['--out'])).message, /^switches: option '--out' needs a value/);
  t.regex(exitOf(t, () => load(['--help'])).message, /^ {2}--force\[=on\|off\]$/m);
});

test('a stray argument exits 2', (t) => {
  const exit = exitOf(t, () => loadServerConfig(['serve'], {}));
  t.is(exit.exitCode, 2);
  t.regex(exit.message, /serve/);
});

test('a flag without a value exits 2', (t) => {
  // A flag followed by another flag has no value either: "--data-dir --fsync" is not a data dir named "--fsync".
  for (const argv of [
    ['--port'],
    ['--port', '--agencies', '3'],
    ['--agencies', '3', '--data-dir'],
    ['--data-dir', '--fsync'],
    ['--host', '--port', '80'],
    ['--host', '-h2'],
  ]) {
    const exit = exitOf(t, () => loadServerConfig(argv, {}), argv.join(' '));
    t.is(exit.exitCode, 2);
    t.regex(exit.message, /needs a value/);
  }
  t.is(exitOf(t, () => loadAgencyConfig(['--id'], {})).exitCode, 2);
});

test('the longest timeouts a timer can hold and the most workers are taken', (t) => {
  t.like(
    loadServerConfig(['--idle-timeout', '2147483', '--handshake-timeout', '2147483', '--frame-timeout', '2147483', '--workers', '256'], {}),
    {
      idleTimeout: 2147483,
      handshakeTimeout: 2147483,
      frameTimeout: 2147483,
      workers: 256,
    },
  );
  t.like(loadAgencyConfig(['--id', '1', '--winners-timeout', '2147483'], {}), { winnersTimeout: 2147483 });
  t.is(exitOf(t, () => loadAgencyConfig(['--id', '1', '--retry-timeout', '2147484'], {})).exitCode, 2);
});

test('any flag given twice exits 2 naming it, whatever the two values', (t) => {
  for (const [key, setting] of Object.entries(serverSchema)) {
    const value = key === 'config' ? '/nonexistent.json' : String(serverSchema[key as keyof typeof serverSchema].default);
    // A switch takes its value only inline: given alone, it means on.
    const twice = (setting as { isSwitch?: true }).isSwitch
      ? [
          [`--${setting.arg}`, `--${setting.arg}`],
          [`--${setting.arg}=on`, `--${setting.arg}`],
        ]
      : [
          [`--${setting.arg}`, value, `--${setting.arg}`, value],
          [`--${setting.arg}=${value}`, `--${setting.arg}`, value],
        ];
    for (const argv of twice) {
      const exit = exitOf(t, () => loadServerConfig(argv, {}), argv.join(' '));
      t.is(exit.exitCode, 2);
      t.regex(exit.message, new RegExp(`option '--${setting.arg}' is given more than once`));
    }
  }
  for (const setting of Object.values(agencySchema)) {
    // A switch takes a value only inline.
    const twice =
      'isSwitch' in setting ? [`--${setting.arg}=on`, `--${setting.arg}=off`] : [`--${setting.arg}`, '1', `--${setting.arg}`, '2'];
    const exit = exitOf(t, () => loadAgencyConfig(['--id', '1', ...twice], {}), setting.arg);
    t.regex(exit.message, new RegExp(`option '--${setting.arg}' is given more than once`));
  }
  t.regex(exitOf(t, () => loadServerConfig(['--help'], {})).message, /each flag may be given once/);
});

test('a flag given as --key=value is read like --key value, even a value that starts with a dash', (t) => {
  t.like(loadServerConfig(['--port=2001', '--fsync=on', '--data-dir=-odd'], {}), { port: 2001, fsync: true, dataDir: '-odd' });
});

function checkHelp(t: ExecutionContext, schema: Schema, load: (argv: string[]) => unknown): void {
  for (const flag of ['--help', '-h']) {
    const exit = exitOf(t, () => load([flag]));
    t.is(exit.exitCode, 0);
    // Fault injection for tests is no setting at all (see src/actors/fault-hooks.ts).
    t.notRegex(exit.message, /--fault|\bfault/i);
    for (const [key, setting] of Object.entries(schema)) {
      t.true(exit.message.includes(`--${setting.arg}`), `--help lists --${setting.arg}`);
      t.true(exit.message.includes(setting.env), `--help lists ${setting.env}`);
      t.true(exit.message.includes(`"${key}"`), `--help lists the config key ${key}`);
    }
  }
  // --help wins over anything else on the line, even bad values.
  t.is(exitOf(t, () => load(['--port', '70000', '--help'])).exitCode, 0);
}

test('--help exits 0 and lists every flag and environment variable of the server', (t) => {
  checkHelp(t, serverSchema, (argv) => loadServerConfig(argv, {}));
});

test('--help exits 0 and lists every flag and environment variable of the agency', (t) => {
  checkHelp(t, agencySchema, (argv) => loadAgencyConfig(argv, {}));
});

test('--version exits 0 with the project version', (t) => {
  const exit = exitOf(t, () => loadServerConfig(['--version'], {}));
  t.is(exit.exitCode, 0);
  t.is(exit.message, projectVersion());
  t.regex(exit.message, /^\d+\.\d+\.\d+/);
});

test('the agency id is required', (t) => {
  const exit = exitOf(t, () => loadAgencyConfig([], {}));
  t.is(exit.exitCode, 2);
  t.is(exit.message.split('\n')[0], 'lottery-agency: --id (CLI_ID) is required');
  t.regex(exit.message, /^lottery-agency: /);
  for (const id of ['0', '-2', 'one', '1.5']) {
    const bad = exitOf(t, () => loadAgencyConfig(['--id', id], {}), id);
    t.is(bad.exitCode, 2);
    t.regex(bad.message, /--id/);
  }
});

test("the agency's data file defaults to .data/agency-<id>.csv and can be set", (t) => {
  t.is(loadAgencyConfig(['--id', '7'], {}).dataFile, '.data/agency-7.csv');
  t.is(loadAgencyConfig([], { CLI_ID: '12' }).dataFile, '.data/agency-12.csv');
  t.is(loadAgencyConfig(['--id', '7', '--data-file', 'bets.csv'], {}).dataFile, 'bets.csv');
  t.is(loadAgencyConfig(['--id', '7'], { CLI_DATA_FILE: '/in/env.csv' }).dataFile, '/in/env.csv');
});

test('bad agency values exit 2 naming the key', (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--server', 'localhost'], /--server/],
    [['--server', 'localhost:0'], /--server/],
    [['--server', 'localhost:65536'], /--server/],
    [['--batch-max-amount', '-1'], /--batch-max-amount/],
    [['--winners-timeout', '0'], /--winners-timeout/],
    [['--reply-timeout', '-3'], /--reply-timeout/],
    [['--retry-timeout', 'soon'], /--retry-timeout/],
  ];
  for (const [argv, names] of cases) {
    const exit = exitOf(t, () => loadAgencyConfig(['--id', '1', ...argv], {}), argv.join(' '));
    t.is(exit.exitCode, 2);
    t.regex(exit.message, names);
  }
});

test('host:port parsing takes names, IPv4 and bracketed IPv6 with a port from 1 to 65535', (t) => {
  t.deepEqual(parseHostPort('localhost:12345'), { host: 'localhost', port: 12345 });
  t.deepEqual(parseHostPort('10.0.0.1:1'), { host: '10.0.0.1', port: 1 });
  t.deepEqual(parseHostPort('[::1]:65535'), { host: '::1', port: 65535 });
  for (const bad of ['localhost', 'localhost:', ':80', 'host:0', 'host:65536', 'host:123456', 'host:8o'])
    t.is(parseHostPort(bad), undefined, bad);
});

test('a bad value is told with the value as given, from a flag or a variable', (t) => {
  t.regex(
    exitOf(t, () => loadAgencyConfig(['--id', '0'], {})).message,
    /^lottery-agency: --id \(CLI_ID\): must be a positive integer, got "0"$/m,
  );
  t.regex(exitOf(t, () => loadAgencyConfig([], { CLI_ID: 'two' })).message, /--id \(CLI_ID\): must be a positive integer, got "two"$/m);
  t.regex(
    exitOf(t, () => loadServerConfig(['--port', 'abc'], {})).message,
    /--port \(\w+\): ports must be within range 0 - 65535, got "abc"$/m,
  );
});

test('--server refuses a URL, saying what host:port it means', (t) => {
  t.regex(
    exitOf(t, () => loadAgencyConfig(['--id', '1', '--server', 'http://127.0.0.1:12345'], {})).message,
    /--server \(CLI_SERVER_ADDRESS\): must be host:port, not a URL: give 127\.0\.0\.1:12345$/m,
  );
  t.regex(
    exitOf(t, () => loadAgencyConfig(['--id', '1', '--server', 'tcp://lot.example/'], {})).message,
    /not a URL: give lot\.example:12345$/m,
  );
  t.is(parseHostPort('http://h:1'), undefined);
});
