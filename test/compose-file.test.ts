// The Compose file lottery-compose writes: its services, mounts, health
// check and start order for any N, the one image built once, the check of
// the agency files before anything starts, each setting in one place, the
// committed compose/dev.yaml matching the generator, and the program
// refusing an N that is not a positive integer.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { composeYaml } from '../src/compose/compose-file.ts';
import { loadServerConfig, serverSchema } from '../src/config/server-config.ts';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const composeBin = join(projectRoot, 'src/bin/lottery-compose.ts');

type Mount = { type: string; source: string; target: string; read_only?: boolean };
type Service = {
  image: string;
  build?: { context: string; dockerfile: string };
  command: string[];
  networks?: string[];
  network_mode?: string;
  environment: Record<string, string>;
  volumes: Mount[];
  user?: string;
  restart?: string;
  stop_grace_period?: string;
  healthcheck?: { test: string[]; interval: string; timeout: string; retries: number; start_period: string };
  depends_on?: Record<string, { condition: string }>;
};
type ComposeFile = { services: Record<string, Service>; networks: Record<string, unknown>; volumes: Record<string, unknown> };

const parsed = (agencies: number) => parse(composeYaml({ agencies })) as ComposeFile;
const agencyIds = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const seconds = (duration: string) => Number(/^(\d+)s$/.exec(duration)?.[1]);
const IMAGE = 'loteria-nacional:${LOTTERY_IMAGE_TAG:-latest}';
const mounted = (source: string, target: string) => ({ type: 'bind', source, target, read_only: true });
const inputs = (service: string) => ({ type: 'volume', source: `${service}-inputs`, target: '/input', read_only: true });

/** Service names in the order Compose starts them: each after what it depends on, ties in file order. */
function startOrder(services: Record<string, Service>): string[] {
  const order: string[] = [];
  const visit = (name: string) => {
    if (order.includes(name)) return;
    for (const dependency of Object.keys(services[name].depends_on ?? {})) visit(dependency);
    order.push(name);
  };
  Object.keys(services).forEach(visit);
  return order;
}

// Keys both Compose v1 (1.29) and the Compose Specification (v2) accept for a
// service; anything else must be weighed against both before it goes in.
const PORTABLE_SERVICE_KEYS = new Set([
  'image',
  'build',
  'command',
  'init',
  'networks',
  'network_mode',
  // Documents a port open inside the network; Compose v1 and v2 both read it.
  'expose',
  'environment',
  'volumes',
  // The setup runs as root to read an operator's keys whatever their owner.
  'user',
  'restart',
  'stop_grace_period',
  'healthcheck',
  'depends_on',
  'secrets',
]);

for (const n of [1, 5, 12]) {
  const agencies = n === 1 ? '1 agency' : `${n} agencies`;
  test(`with ${agencies} there is the setup, a server and agency1..agency${n}, and nothing has a fixed name`, (t) => {
    const file = parsed(n);
    t.deepEqual(Object.keys(file.services), ['setup', 'server', ...agencyIds(n).map((id) => `agency${id}`)]);
    // Fixed names would collide between two projects on one engine: `-p` scopes them all.
    for (const service of Object.values(file.services)) t.false('container_name' in service);
    t.deepEqual(file.networks, { lottery: {} });
    t.deepEqual(file.volumes, {
      bets: {},
      setup: {},
      'server-inputs': {},
      ...Object.fromEntries(agencyIds(n).map((id) => [`agency${id}-inputs`, {}])),
    });
  });

  test(`with ${agencies} the one image is built once, by the first service to start, and every service runs it`, (t) => {
    const { services } = parsed(n);
    const building = Object.entries(services)
      .filter(([, service]) => service.build !== undefined)
      .map(([name]) => name);
    t.deepEqual(building, [startOrder(services)[0]]);
    t.deepEqual(services[building[0]].build, { context: '..', dockerfile: 'compose/Dockerfile' });
    for (const service of Object.values(services)) t.is(service.image, IMAGE);
  });

  test(`with ${agencies} every service uses only keys Compose v1 and v2 both accept`, (t) => {
    for (const [name, service] of Object.entries(parsed(n).services)) {
      for (const key of Object.keys(service)) t.true(PORTABLE_SERVICE_KEYS.has(key), `${name}.${key}`);
    }
    t.false('version' in parsed(n));
  });

  test(`with ${agencies} the server reads compose/server.json read-only, expects ${agencies}, keeps bets on a volume and restarts on failure`, (t) => {
    const { services } = parsed(n);
    const server = services.server;
    t.deepEqual(server.command, ['node', 'src/bin/lottery-server.mjs']);
    t.deepEqual(server.networks, ['lottery']);
    t.is(server.environment.LOTTERY_AGENCIES, String(n));
    t.deepEqual(server.volumes, [
      mounted('../compose/server.json', server.environment.LOTTERY_CONFIG),
      { type: 'volume', source: 'bets', target: server.environment.LOTTERY_DATA_DIR },
      inputs('server'),
    ]);
    t.is(server.restart, 'on-failure', 'a server that dies comes back into recovery; a graceful stop stays stopped');
    t.true(seconds(server.stop_grace_period!) >= 20, 'room for a graceful shutdown under load');
  });

  test(`with ${agencies} the server speaks mutual TLS with lottery-pki's server certificate, and its health check pings as the monitor`, (t) => {
    const { environment, healthcheck } = parsed(n).services.server;
    t.is(environment.LOTTERY_TLS_CA, '/input/ca.crt');
    t.is(environment.LOTTERY_TLS_CERT, '/input/server.crt');
    t.is(environment.LOTTERY_TLS_KEY, '/input/server.key');
    t.deepEqual(healthcheck!.test, [
      'CMD',
      'node',
      'src/bin/lottery-ping.mjs',
      '--server',
      '127.0.0.1:12345',
      '--timeout',
      '3',
      '--tls-ca',
      '/input/ca.crt',
      '--tls-cert',
      '/input/monitor.crt',
      '--tls-key',
      '/input/monitor.key',
    ]);
    t.true(seconds(healthcheck!.timeout) > 3, "the check outlives lottery-ping's own timeout");
  });

  test(`with ${agencies} agency K reads its own file and its own certificate read-only and starts with the server, once the setup is done`, (t) => {
    const { services } = parsed(n);
    for (const id of agencyIds(n)) {
      const agency = services[`agency${id}`];
      t.deepEqual(agency.command, ['node', 'src/bin/lottery-agency.mjs']);
      t.deepEqual(agency.networks, ['lottery']);
      t.is(agency.environment.CLI_ID, String(id));
      t.is(agency.environment.CLI_SERVER_ADDRESS, 'server:12345');
      t.is(agency.environment.CLI_DATA_FILE, `/input/agency-${id}.csv`);
      t.is(agency.environment.CLI_TLS_CA, '/input/ca.crt');
      t.is(agency.environment.CLI_TLS_CERT, `/input/agency-${id}.crt`);
      t.is(agency.environment.CLI_TLS_KEY, `/input/agency-${id}.key`);
      // Its own volume only: no agency sees another's key.
      t.deepEqual(agency.volumes, [inputs(`agency${id}`)]);
      // Not after the server, nor after its health check: it retries until the server listens.
      t.deepEqual(agency.depends_on, { setup: { condition: 'service_completed_successfully' } });
    }
  });

  test(`with ${agencies} the server starts only once the setup has given every service its files`, (t) => {
    const { services } = parsed(n);
    const setup = services.setup;
    t.deepEqual(services.server.depends_on, { setup: { condition: 'service_completed_successfully' } });
    t.is(setup.depends_on, undefined);
    t.is(setup.network_mode, 'none');
    t.is(setup.user, 'root');
    t.deepEqual(setup.command, ['node', 'src/compose/compose-setup.ts']);
    t.is(setup.environment.LOTTERY_AGENCIES, String(n));
    // The operator's directories through variables whose default is the project, which a fresh clone has.
    t.deepEqual(setup.volumes.slice(0, 2), [
      mounted('${LOTTERY_PKI:-..}', '/given/pki'),
      mounted('${LOTTERY_AGENCY_FILES:-..}', '/given/files'),
    ]);
    t.is(setup.environment.LOTTERY_PKI, '${LOTTERY_PKI:-}');
    t.is(setup.environment.LOTTERY_AGENCY_FILES, '${LOTTERY_AGENCY_FILES:-}');
    t.deepEqual(
      setup.volumes.slice(2).map((mount) => [mount.type, mount.source, mount.target]),
      [
        ['volume', 'setup', '/setup'],
        ...['server', ...agencyIds(n).map((id) => `agency${id}`)].map((name) => ['volume', `${name}-inputs`, `/inputs/${name}`]),
      ],
    );
  });

  test(`with ${agencies} no key or certificate goes into the image or is bound from the host into a program's container`, (t) => {
    const { services } = parsed(n);
    for (const [name, service] of Object.entries(services)) {
      if (name === 'setup') continue;
      for (const mount of service.volumes)
        t.false(mount.type === 'bind' && mount.target !== '/config/server.json', `${name}: ${mount.source}`);
      for (const mount of service.volumes.filter((m) => m.type === 'volume' && m.target === '/input')) t.true(mount.read_only, name);
    }
  });
}

test("compose/server.json sets nothing the Compose file sets in the server's environment", async (t) => {
  const json = JSON.parse(await readFile(join(projectRoot, 'compose/server.json'), 'utf8')) as Record<string, unknown>;
  const setByCompose = Object.keys(parsed(5).services.server.environment);
  const keyOf = (env: string) => Object.entries(serverSchema).find(([, setting]) => setting.env === env)?.[0];
  for (const env of setByCompose) {
    const key = keyOf(env);
    t.not(key, undefined, `${env} is a lottery-server setting`);
    t.false(key! in json, `${key} is set by ${env} in the Compose file: one place only`);
  }
});

test('the build context leaves out every private key, wherever it is', async (t) => {
  const rules = (await readFile(join(projectRoot, '.dockerignore'), 'utf8'))
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'));
  t.is(rules[0], '*', 'everything is out unless let in');
  // Docker applies the last matching rule: the exclusion of keys comes after every exception.
  const lastException = rules.findLastIndex((rule) => rule.startsWith('!'));
  t.true(rules.indexOf('**/*.key') > lastException);
});

test('the Dockerfile asks for no BuildKit frontend: an offline build must not fetch one', async (t) => {
  const dockerfile = await readFile(join(projectRoot, 'compose/Dockerfile'), 'utf8');
  t.notRegex(dockerfile, /^#\s*syntax\s*=/im);
});

test('the file starts by saying it is generated and by which command', (t) => {
  t.regex(composeYaml({ agencies: 7 }).split('\n')[0], /^# Generated by `lottery-compose --agencies 7`: do not edit by hand/);
});

test('compose/dev.yaml is what lottery-compose writes for 5 agencies', async (t) => {
  const committed = await readFile(join(projectRoot, 'compose/dev.yaml'), 'utf8');
  t.is(committed, composeYaml({ agencies: 5 }), 'run: node src/bin/lottery-compose.ts --agencies 5 --output compose/dev.yaml');
});

/** Runs lottery-compose to its end, with none of its variables set. */
function runCompose(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('LOTTERY_COMPOSE_')));
  const child = spawn(process.execPath, [composeBin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

test('lottery-compose writes to --output with paths that lead from there to the project', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-compose-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const output = join(dir, 'lottery.yaml');
  const { code } = await runCompose(['--agencies', '3', '--output', output]);
  t.is(code, 0);
  const text = await readFile(output, 'utf8');
  const projectDir = relative(dirname(output), projectRoot);
  t.is(text, composeYaml({ agencies: 3, projectDir }));
  const file = parse(text) as ComposeFile;
  t.is(resolve(dir, file.services.setup.build!.context), resolve(projectRoot));
  t.is(resolve(dir, file.services.server.volumes[0].source), join(projectRoot, 'compose/server.json'));
  t.is(resolve(dir, file.services.setup.volumes[1].source.replace(/^\$\{LOTTERY_AGENCY_FILES:-(.*)\}/, '$1')), resolve(projectRoot));
});

test('lottery-compose without --output writes compose/agencies-N.yaml and leaves the tracked dev.yaml alone', async (t) => {
  const devYaml = join(projectRoot, 'compose/dev.yaml');
  const output = join(projectRoot, 'compose/agencies-2.yaml');
  t.teardown(() => rm(output, { force: true }));
  const before = await readFile(devYaml, 'utf8');
  const { code, stdout } = await runCompose(['--agencies', '2']);
  t.is(code, 0);
  t.regex(stdout, /wrote compose\/agencies-2\.yaml \(server and 2 agencies\)/);
  t.is(await readFile(output, 'utf8'), composeYaml({ agencies: 2 }));
  t.is(await readFile(devYaml, 'utf8'), before);
});

for (const value of ['0', '-3', 'abc']) {
  test(`lottery-compose --agencies ${value} exits 2 naming the setting and writes nothing`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'lottery-compose-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const output = join(dir, 'lottery.yaml');
    const { code, stdout, stderr } = await runCompose(['--agencies', value, '--output', output]);
    t.is(code, 2);
    t.is(stdout, '');
    t.regex(stderr, /^lottery-compose: --agencies \(LOTTERY_COMPOSE_AGENCIES\): must be a positive integer/);
    t.false(existsSync(output));
  });
}

test('compose/server.json with the environment the Compose file gives is a configuration lottery-server accepts', (t) => {
  const { environment } = parsed(5).services.server;
  const config = loadServerConfig([], { ...environment, LOTTERY_CONFIG: join(projectRoot, 'compose/server.json') });
  t.is(config.agencies, 5);
  t.is(config.dataDir, '/data');
  t.is(config.logFormat, 'text');
});
