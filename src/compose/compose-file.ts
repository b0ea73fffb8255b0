// The Compose file for a server and N agencies, as a plain object first (so
// tests can look at it) and then as the YAML that lottery-compose writes.
// Variable names and the port come from the programs' own schemas, so the
// file cannot drift from what the programs read. Each setting is written in
// one place: what the environment sets here, compose/server.json must not set.
//
// The file names nothing outside its project (no container_name, no fixed
// network or volume name): `docker compose -p NAME` scopes everything, so two
// runs on one engine never collide. It uses only what Compose v1 (1.29) and
// the Compose specification (v2) both accept.

import { posix } from 'node:path';
import { Document, isScalar, visit } from 'yaml';
import { agencySchema } from '../config/agency-config.ts';
import { serverSchema } from '../config/server-config.ts';

export type ComposeOptions = {
  agencies: number;
  /**
   * The way from the directory the file goes to up to the project's root,
   * with `/` separators: Compose resolves the file's relative paths from
   * the file's directory. Default `..`, for compose/dev.yaml.
   */
  projectDir?: string;
  /**
   * Past one machine: a PostgreSQL database (`postgres:15`), FRONT_ENDS
   * front-ends on it with --store, and each agency given every front-end.
   */
  scale?: boolean;
};

/** The front-ends of a scale file: services server1, server2. */
export const FRONT_ENDS = 2;
const DATABASE = 'db';
const DATABASE_VOLUME = 'database';
/** The store URL the front-ends are given: the trust between them and the database is the Compose network's. */
const STORE_URL = `postgres://lottery@${DATABASE}:5432/lottery`;
/** The variable that tells the setup which server services to give the server's files (and name in certificates it makes). */
export const SETUP_SERVERS = 'LOTTERY_COMPOSE_SERVERS';

/** Variables the file reads when Compose runs it, and what they default to. */
export const composeVariables = {
  /** The image's tag: another tag keeps a test run's image apart from `latest`. */
  imageTag: { name: 'LOTTERY_IMAGE_TAG', default: 'latest' },
  /** Where agency-K.csv are, if not in the project's .data (absolute, or relative to the file's directory). */
  agencyFiles: { name: 'LOTTERY_AGENCY_FILES' },
  /** Where the operator's lottery-pki certificates and keys are, if not in the project's .data/pki. */
  pki: { name: 'LOTTERY_PKI' },
} as const;

const IMAGE = `loteria-nacional:\${${composeVariables.imageTag.name}:-${composeVariables.imageTag.default}}`;
const NETWORK = 'lottery';
const BETS_VOLUME = 'bets';
const SERVER = 'server';
/** Gives every other service its files, before anything else starts. */
export const SETUP = 'setup';
/** The setup's own volume: the certificates it made, the sample files it made. */
const SETUP_VOLUME = 'setup';
/** Each service's volume of inputs, filled by the setup. */
const inputsVolume = (service: string) => `${service}-inputs`;
const SERVER_PORT = serverSchema.port.default;
/** The operator's HTTPS endpoint (metrics, status page): reachable inside the Compose network, with the monitor certificate. */
export const HTTP_PORT = 9464;
const CONFIG_FILE = '/config/server.json';
const DATA_DIR = '/data';
/** Where a service finds its inputs: the CA certificate, its certificate and key, an agency's bets file. */
const INPUTS_DIR = '/input';

type Service = Record<string, unknown>;
export type ComposeFile = {
  services: Record<string, Service>;
  networks: Record<string, unknown>;
  volumes: Record<string, unknown>;
};

const agencyName = (id: number) => `agency${id}`;
const agencyFileName = (id: number) => `agency-${id}.csv`;

/** A mounted file: where it comes from on the host, where it goes in the container. */
type FileMount = { source: string; target: string };
const readOnly = ({ source, target }: FileMount) => ({ type: 'bind', source, target, read_only: true });
const inputs = (service: string) => ({ type: 'volume', source: inputsVolume(service), target: INPUTS_DIR, read_only: true });

/** The CA, certificate and key of one identity lottery-pki made (server, monitor, agency-K), where a service reads them. */
function identityFiles(identity: string): { ca: string; cert: string; key: string } {
  return { ca: `${INPUTS_DIR}/ca.crt`, cert: `${INPUTS_DIR}/${identity}.crt`, key: `${INPUTS_DIR}/${identity}.key` };
}

export function composeFile({ agencies, projectDir = '..', scale = false }: ComposeOptions): ComposeFile {
  if (!Number.isSafeInteger(agencies) || agencies < 1) throw new RangeError(`agencies must be a positive integer, got ${agencies}`);
  const fromProject: FromProject = (path) => {
    const joined = posix.join(projectDir, path);
    // Compose reads a bare name as a named volume: a path must start with . or ..
    return joined === '.' || joined === '..' || joined.startsWith('../') ? joined : `./${joined}`;
  };
  const ids = Array.from({ length: agencies }, (_, i) => i + 1);
  if (scale) return scaleFile(agencies, fromProject, ids);
  const services: Record<string, Service> = {
    [SETUP]: setup(agencies, fromProject, [SERVER]),
    [SERVER]: serverService(agencies, fromProject, SERVER),
  };
  for (const id of ids) services[agencyName(id)] = agencyService(id);
  const volumes: Record<string, unknown> = {
    // Outlives `down` (not `down -v`), so a restarted server finds its bets.
    [BETS_VOLUME]: {},
    [SETUP_VOLUME]: {},
  };
  for (const name of [SERVER, ...ids.map(agencyName)]) volumes[inputsVolume(name)] = {};
  return { services, networks: { [NETWORK]: {} }, volumes };
}

/**
 * The scale file: the database, the front-ends (each the server service
 * with --store in place of the data dir's volume, waiting for the
 * database), and the agencies, each given every front-end, its own first,
 * started once the setup is done, as in the dev file.
 */
function scaleFile(agencies: number, fromProject: FromProject, ids: number[]): ComposeFile {
  const fronts = Array.from({ length: FRONT_ENDS }, (_, i) => `${SERVER}${i + 1}`);
  const services: Record<string, Service> = {
    [SETUP]: setup(agencies, fromProject, fronts),
    [DATABASE]: {
      image: 'postgres:15',
      environment: { POSTGRES_USER: 'lottery', POSTGRES_DB: 'lottery', POSTGRES_HOST_AUTH_METHOD: 'trust' },
      volumes: [{ type: 'volume', source: DATABASE_VOLUME, target: '/var/lib/postgresql/data' }],
      networks: [NETWORK],
      healthcheck: { test: ['CMD', 'pg_isready', '-U', 'lottery', '-d', 'lottery'], interval: '2s', timeout: '5s', retries: 30 },
    },
  };
  for (const name of fronts) {
    const base = serverService(agencies, fromProject, name);
    const environment = { ...(base.environment as Record<string, string>), [serverSchema.store.env]: STORE_URL };
    delete environment[serverSchema.dataDir.env];
    services[name] = {
      ...base,
      environment,
      // No bets volume: the lottery is in the database.
      volumes: (base.volumes as Array<{ source: string }>).filter((mount) => mount.source !== BETS_VOLUME),
      depends_on: { ...(base.depends_on as object), [DATABASE]: { condition: 'service_healthy' } },
    };
  }
  for (const id of ids) {
    const base = agencyService(id);
    // Each agency starts on its own front-end and moves to the next on a failure.
    const order = fronts.map((_, i) => fronts[(id - 1 + i) % fronts.length]);
    services[agencyName(id)] = {
      ...base,
      environment: {
        ...(base.environment as Record<string, string>),
        [agencySchema.server.env]: order.map((name) => `${name}:${SERVER_PORT}`).join(','),
      },
      // depends_on stays the setup's alone, as in the dev file: waiting on
      // every front-end's health would keep all agencies from starting while
      // one front-end is down, though each is given them all and moves on.
    };
  }
  const volumes: Record<string, unknown> = { [DATABASE_VOLUME]: {}, [SETUP_VOLUME]: {} };
  for (const name of [...fronts, ...ids.map(agencyName)]) volumes[inputsVolume(name)] = {};
  return { services, networks: { [NETWORK]: {} }, volumes };
}

/** The file as lottery-compose writes it: a header saying where it comes from, then the YAML. */
export function composeYaml(options: ComposeOptions): string {
  const last = options.agencies === 1 ? '' : ` … agency-${options.agencies}.csv`;
  const header =
    `# Generated by \`lottery-compose --agencies ${options.agencies}${options.scale === true ? ' --scale on' : ''}\`: do not edit by hand, run it again instead.\n` +
    `# Agencies read .data/agency-1.csv${last} (or those in $${composeVariables.agencyFiles.name}), else sample files; ${options.scale === true ? 'the bets go to the database' : 'bets.csv goes to the volume'}.\n` +
    `# Mutual TLS with the certificates in .data/pki (or $${composeVariables.pki.name}), else with ones the setup service makes.\n` +
    (options.scale === true ? `# Past one machine: postgres:15, ${FRONT_ENDS} front-ends on it (--store), each agency given every front-end.\n` : '') +
    '# Run it as a project: docker compose -p loteria-nacional -f FILE up --build (docker-compose for Compose v1)\n';
  // Each service spells out its own settings: a reader should not have to resolve anchors.
  const document = new Document(composeFile(options), { aliasDuplicateObjects: false });
  // Lists of plain values on one line, as commands are usually written.
  visit(document, {
    Seq(_, list) {
      if (list.items.every(isScalar)) list.flow = true;
    },
  });
  return header + document.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** A path relative to the project's root, made relative to the file's directory. */
type FromProject = (path: string) => string;

/** Where to build the one image from. */
const build = (fromProject: FromProject) => ({ context: fromProject('.'), dockerfile: 'compose/Dockerfile' });

/** What the server and the agencies share: the one image, on the one network. */
function programSettings(program: string): Service {
  return {
    image: IMAGE,
    command: ['node', `src/bin/${program}.mjs`],
    // Node is not meant to run as PID 1: a tiny init forwards signals and reaps.
    init: true,
    networks: [NETWORK],
  };
}

/**
 * Runs first, as root, with no network: fills each service's volume with
 * its files (src/compose/compose-setup.ts says from where: the operator's
 * PKI and agency files when there, else certificates and sample files made
 * here), owned by the programs' user. The server waits for it to succeed and
 * the agencies for the server, so a missing or unreadable file stops `up`
 * before anything starts, not after four agencies have uploaded.
 * The operator's directories are mounted through a variable whose default
 * is the project itself, which always exists: Docker refuses (long syntax)
 * or makes as root (short syntax) a bind source that is missing, and a
 * fresh clone has no .data. The variable itself tells the setup which.
 * Being first in start order, it is also the one service that builds the
 * image: Compose v1 makes each service's image in that order, and would try
 * to pull the image for a service without `build:` that came first.
 */
function setup(agencies: number, fromProject: FromProject, servers: readonly string[]): Service {
  const given = (setting: { name: string }) => `\${${setting.name}:-${fromProject('.')}}`;
  const services = [...servers, ...Array.from({ length: agencies }, (_, i) => agencyName(i + 1))];
  return {
    image: IMAGE,
    build: build(fromProject),
    command: ['node', 'src/compose/compose-setup.ts'],
    user: 'root',
    network_mode: 'none',
    environment: {
      [serverSchema.agencies.env]: String(agencies),
      [composeVariables.pki.name]: `\${${composeVariables.pki.name}:-}`,
      [composeVariables.agencyFiles.name]: `\${${composeVariables.agencyFiles.name}:-}`,
      ...(servers.length === 1 && servers[0] === SERVER ? {} : { [SETUP_SERVERS]: servers.join(',') }),
    },
    volumes: [
      readOnly({ source: given(composeVariables.pki), target: '/given/pki' }),
      readOnly({ source: given(composeVariables.agencyFiles), target: '/given/files' }),
      { type: 'volume', source: SETUP_VOLUME, target: '/setup' },
      ...services.map((service) => ({ type: 'volume', source: inputsVolume(service), target: `/inputs/${service}` })),
    ],
  };
}

function serverService(agencies: number, fromProject: FromProject, name: string): Service {
  const tls = identityFiles('server');
  const monitor = identityFiles('monitor');
  return {
    ...programSettings('lottery-server'),
    environment: {
      [serverSchema.config.env]: CONFIG_FILE,
      // Here and only here: compose/server.json holds the settings an
      // operator tunes (logs), and a test keeps these out of it.
      [serverSchema.agencies.env]: String(agencies),
      [serverSchema.dataDir.env]: DATA_DIR,
      // Mutual TLS: only holders of a certificate of this CA get in.
      [serverSchema.tlsCa.env]: tls.ca,
      [serverSchema.tlsCert.env]: tls.cert,
      [serverSchema.tlsKey.env]: tls.key,
      // HTTPS with the same CA: only the monitor certificate is answered.
      [serverSchema.httpPort.env]: String(HTTP_PORT),
      [serverSchema.httpHost.env]: '0.0.0.0',
    },
    // Inside the network only (no host port): Prometheus in it scrapes with
    // the monitor certificate, an operator reaches it through a tunnel.
    expose: [String(HTTP_PORT)],
    volumes: [
      readOnly({ source: fromProject('compose/server.json'), target: CONFIG_FILE }),
      { type: 'volume', source: BETS_VOLUME, target: DATA_DIR },
      // Its certificates, from the setup; never in the image.
      inputs(name),
    ],
    // A server that dies (a failed Store exits non-zero) comes back and
    // recovers from its journal; a graceful stop (exit 0) or `docker compose
    // stop` is not undone. Docker spaces the attempts out (0.1 s, doubling,
    // up to a minute), so one that cannot start does not spin.
    restart: 'on-failure',
    // The server syncs and closes bets.csv on SIGTERM; under load that takes
    // up to 10 s, past which Compose's default would kill it mid-way.
    stop_grace_period: '20s',
    healthcheck: {
      // As the monitor, the identity that may only PING.
      test: [
        'CMD', 'node', 'src/bin/lottery-ping.mjs', '--server', `127.0.0.1:${SERVER_PORT}`, '--timeout', '3',
        '--tls-ca', monitor.ca, '--tls-cert', monitor.cert, '--tls-key', monitor.key,
      ],
      interval: '5s',
      timeout: '5s',
      retries: 3,
      start_period: '30s',
    },
    depends_on: { [SETUP]: { condition: 'service_completed_successfully' } },
  };
}

function agencyService(id: number): Service {
  const tls = identityFiles(`agency-${id}`);
  return {
    ...programSettings('lottery-agency'),
    environment: {
      [agencySchema.id.env]: String(id),
      [agencySchema.server.env]: `${SERVER}:${SERVER_PORT}`,
      [agencySchema.dataFile.env]: `${INPUTS_DIR}/${agencyFileName(id)}`,
      [agencySchema.tlsCa.env]: tls.ca,
      [agencySchema.tlsCert.env]: tls.cert,
      [agencySchema.tlsKey.env]: tls.key,
    },
    volumes: [inputs(agencyName(id))],
    // Started with the server, not after it nor after its health check: the
    // server listens first thing and holds connections until it serves, and
    // an agency retries a connection refused or a name not yet known (up to
    // --retry-timeout), so waiting on the server would only add Compose's
    // own start-up, or a check interval, to the run. Its files come from the
    // setup.
    depends_on: { [SETUP]: { condition: 'service_completed_successfully' } },
  };
}
