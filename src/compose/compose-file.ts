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

/** Variables the file reads when Compose runs it, and what they default to. */
export const composeVariables = {
  /** The image's tag: another tag keeps a test run's image apart from `latest`. */
  imageTag: { name: 'LOTTERY_IMAGE_TAG', default: 'latest' },
  /** Where agency-K.csv are, if not in the project's .data (absolute, or relative to the file's directory). */
  agencyFiles: { name: 'LOTTERY_AGENCY_FILES' },
  /** Where lottery-pki's certificates and keys are, if not in the project's .data/pki. */
  pki: { name: 'LOTTERY_PKI' },
} as const;

const IMAGE = `loteria-nacional:\${${composeVariables.imageTag.name}:-${composeVariables.imageTag.default}}`;
const NETWORK = 'lottery';
const BETS_VOLUME = 'bets';
const SERVER = 'server';
/** Checks every file the services mount before anything else starts. */
export const PREFLIGHT = 'preflight';
const SERVER_PORT = serverSchema.port.default;
/** The operator's HTTPS endpoint (metrics, status page): reachable inside the Compose network, with the monitor certificate. */
export const HTTP_PORT = 9464;
const CONFIG_FILE = '/config/server.json';
const DATA_DIR = '/data';
const PREFLIGHT_DIR = '/preflight';
const PKI_DIR = '/pki';

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

/** The CA, certificate and key of one identity lottery-pki made (server, monitor, agency-K), as mounts. */
function identityFiles(pkiFile: (name: string) => string, identity: string): { ca: FileMount; cert: FileMount; key: FileMount } {
  const file = (name: string) => ({ source: pkiFile(name), target: `${PKI_DIR}/${name}` });
  return { ca: file('ca.crt'), cert: file(`${identity}.crt`), key: file(`${identity}.key`) };
}

export function composeFile(options: ComposeOptions): ComposeFile {
  const { agencies, projectDir = '..' } = options;
  if (!Number.isSafeInteger(agencies) || agencies < 1) throw new RangeError(`agencies must be a positive integer, got ${agencies}`);
  const fromProject: FromProject = (path) => {
    const joined = posix.join(projectDir, path);
    // Compose reads a bare name as a named volume: a path must start with . or ..
    return joined === '.' || joined === '..' || joined.startsWith('../') ? joined : `./${joined}`;
  };
  const variable = (setting: { name: string }, fallback: string) => `\${${setting.name}:-${fallback}}`;
  const agencyFile = (id: number): FileMount => ({
    source: `${variable(composeVariables.agencyFiles, fromProject('.data'))}/${agencyFileName(id)}`,
    target: `${DATA_DIR}/${agencyFileName(id)}`,
  });
  const pkiFile = (name: string) => `${variable(composeVariables.pki, fromProject('.data/pki'))}/${name}`;
  const ids = Array.from({ length: agencies }, (_, i) => i + 1);
  const server = serverService(agencies, fromProject, identityFiles(pkiFile, 'server'), identityFiles(pkiFile, 'monitor'));
  const agencyServices = ids.map((id) => agencyService(id, agencyFile(id), identityFiles(pkiFile, `agency-${id}`)));
  const services: Record<string, Service> = {
    [PREFLIGHT]: preflight([server, ...agencyServices], fromProject),
    [SERVER]: server,
  };
  if (options.scale === true) return scaleFile(options.agencies, fromProject, pkiFile, agencyFile, ids);
  ids.forEach((id, i) => (services[agencyName(id)] = agencyServices[i]));
  return {
    services,
    networks: { [NETWORK]: {} },
    // Outlives `down` (not `down -v`), so a restarted server finds its bets.
    volumes: { [BETS_VOLUME]: {} },
  };
}

/** The file as lottery-compose writes it: a header saying where it comes from, then the YAML. */
export function composeYaml(options: ComposeOptions): string {
  const last = options.agencies === 1 ? '' : ` … agency-${options.agencies}.csv`;
  const header =
    `# Generated by \`lottery-compose --agencies ${options.agencies}${options.scale === true ? ' --scale on' : ''}\`: do not edit by hand, run it again instead.\n` +
    `# Reads .data/agency-1.csv${last} (or those in $${composeVariables.agencyFiles.name}); ${options.scale === true ? 'the bets go to the database' : 'bets.csv goes to the volume'}.\n` +
    `# Mutual TLS with the certificates in .data/pki (or $${composeVariables.pki.name}): npx lottery-pki --out .data/pki --agencies ${options.agencies} --hosts ${options.scale === true ? Array.from({ length: FRONT_ENDS }, (_, i) => `${SERVER}${i + 1}`).join(',') : SERVER},localhost,127.0.0.1\n` +
    (options.scale === true ? `# Past one machine: postgres:15, ${FRONT_ENDS} front-ends on it (--store), each agency given every front-end.\n` : '') +
    '# Run it as a project: docker compose -p loteria-nacional -f FILE up --build\n';
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
 * Runs first and only checks that every file the other services mount (the
 * agencies' bets, the certificates and keys) is there and readable by the
 * programs' user. Docker refuses a bind mount whose source is missing (the
 * long syntax never creates it), naming the path; the server waits for this
 * check to succeed and the agencies for the server, so a missing file stops
 * `up` before anything starts, not after four agencies have uploaded.
 * Being first in start order, it is also the one service that builds the
 * image: Compose v1 makes each service's image in that order, and would try
 * to pull the image for a service without `build:` that came first.
 */
function preflight(services: Service[], fromProject: FromProject): Service {
  // Each file once, where the services see it, under /preflight.
  const mounts = new Map<string, FileMount>();
  for (const service of services) {
    for (const mount of service.volumes as Array<FileMount & { type: string }>) {
      if (mount.type === 'bind') mounts.set(mount.source, { source: mount.source, target: `${PREFLIGHT_DIR}${mount.target}` });
    }
  }
  return {
    image: IMAGE,
    build: build(fromProject),
    command: [
      'sh',
      '-c',
      'for f in "$$@"; do [ -f "$$f" ] && [ -r "$$f" ] || { echo "preflight: $$f is not a file the node user can read" >&2; exit 1; }; done',
      PREFLIGHT,
      ...[...mounts.values()].map((mount) => mount.target),
    ],
    network_mode: 'none',
    volumes: [...mounts.values()].map(readOnly),
  };
}

type Identity = ReturnType<typeof identityFiles>;

function serverService(agencies: number, fromProject: FromProject, tls: Identity, monitor: Identity): Service {
  return {
    ...programSettings('lottery-server'),
    environment: {
      [serverSchema.config.env]: CONFIG_FILE,
      // Here and only here: compose/server.json holds the settings an
      // operator tunes (logs), and a test keeps these out of it.
      [serverSchema.agencies.env]: String(agencies),
      [serverSchema.dataDir.env]: DATA_DIR,
      // Mutual TLS: only holders of a certificate of this CA get in.
      [serverSchema.tlsCa.env]: tls.ca.target,
      [serverSchema.tlsCert.env]: tls.cert.target,
      [serverSchema.tlsKey.env]: tls.key.target,
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
      // Read-only mounts, never in the image: the keys stay on the host.
      ...[tls.ca, tls.cert, tls.key, monitor.cert, monitor.key].map(readOnly),
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
        '--tls-ca', monitor.ca.target, '--tls-cert', monitor.cert.target, '--tls-key', monitor.key.target,
      ],
      interval: '5s',
      timeout: '5s',
      retries: 3,
      start_period: '30s',
    },
    depends_on: { [PREFLIGHT]: { condition: 'service_completed_successfully' } },
  };
}

function agencyService(id: number, file: FileMount, tls: Identity): Service {
  return {
    ...programSettings('lottery-agency'),
    environment: {
      [agencySchema.id.env]: String(id),
      [agencySchema.server.env]: `${SERVER}:${SERVER_PORT}`,
      [agencySchema.dataFile.env]: file.target,
      [agencySchema.tlsCa.env]: tls.ca.target,
      [agencySchema.tlsCert.env]: tls.cert.target,
      [agencySchema.tlsKey.env]: tls.key.target,
    },
    volumes: [file, tls.ca, tls.cert, tls.key].map(readOnly),
    // An agency gives up after --retry-timeout; it starts once the server answers PING.
    depends_on: { [SERVER]: { condition: 'service_healthy' } },
  };
}

/**
 * The scale file: the database, the front-ends (each the server service
 * with --store in place of a data volume, waiting for the database), and
 * the agencies, each given every front-end in turn from its own.
 */
function scaleFile(
  agencies: number,
  fromProject: FromProject,
  pkiFile: (name: string) => string,
  agencyFile: (id: number) => FileMount,
  ids: number[],
): ComposeFile {
  const fronts = Array.from({ length: FRONT_ENDS }, (_, i) => `${SERVER}${i + 1}`);
  const servers = fronts.map((name) => {
    const base = serverService(agencies, fromProject, identityFiles(pkiFile, 'server'), identityFiles(pkiFile, 'monitor'));
    const environment = { ...(base.environment as Record<string, string>), [serverSchema.store.env]: STORE_URL };
    delete environment[serverSchema.dataDir.env];
    return [
      name,
      {
        ...base,
        environment,
        volumes: (base.volumes as Array<{ type: string }>).filter((mount) => mount.type === 'bind'),
        depends_on: { ...(base.depends_on as object), [DATABASE]: { condition: 'service_healthy' } },
      },
    ] as const;
  });
  const agencyServices = ids.map((id) => {
    const base = agencyService(id, agencyFile(id), identityFiles(pkiFile, `agency-${id}`));
    // Each agency starts on its own front-end and moves to the next on a failure.
    const order = fronts.map((_, i) => fronts[(id - 1 + i) % fronts.length]);
    return [
      agencyName(id),
      {
        ...base,
        environment: { ...(base.environment as Record<string, string>), [agencySchema.server.env]: order.map((name) => `${name}:${SERVER_PORT}`).join(',') },
        depends_on: Object.fromEntries(fronts.map((name) => [name, { condition: 'service_healthy' }])),
      },
    ] as const;
  });
  const database: Service = {
    image: 'postgres:15',
    environment: { POSTGRES_USER: 'lottery', POSTGRES_DB: 'lottery', POSTGRES_HOST_AUTH_METHOD: 'trust' },
    volumes: [{ type: 'volume', source: DATABASE_VOLUME, target: '/var/lib/postgresql/data' }],
    networks: [NETWORK],
    healthcheck: { test: ['CMD', 'pg_isready', '-U', 'lottery', '-d', 'lottery'], interval: '2s', timeout: '5s', retries: 30 },
  };
  const services: Record<string, Service> = {
    [PREFLIGHT]: preflight([...servers.map(([, service]) => service), ...agencyServices.map(([, service]) => service)], fromProject),
    [DATABASE]: database,
    ...Object.fromEntries(servers),
    ...Object.fromEntries(agencyServices),
  };
  return { services, networks: { [NETWORK]: {} }, volumes: { [DATABASE_VOLUME]: {} } };
}
