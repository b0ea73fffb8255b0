// The operator's HTTP endpoint, on the server's main thread: /metrics
// (Prometheus), /livez, /readyz, /status.json and the status page at /.
// node:http or node:https and five routes: no framework. With the server's
// TLS files it is HTTPS with the same CA and a client certificate required;
// only the monitor identity is answered, an agency's certificate gets 403,
// and a client with no certificate fails the handshake. Nothing it answers
// names a bettor: counts, agency ids, digests.
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { LotteryStatus } from '../ledger/lottery-status.ts';
import { identityFromCommonName } from '../pki/identity.ts';
import { serverTlsOptions, type ServerTlsFiles } from '../transport/server-transport.ts';
import { STATUS_PAGE } from './status-page.ts';

/** What the endpoint shows, asked afresh on each request. */
export type MonitorSource = {
  /** Whether the server accepts connections and its store answers now. */
  ready(): Promise<boolean>;
  /** The Prometheus text of every thread's figures. */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** The lottery's status; undefined while it cannot be told (no Lottery runs). */
  status(): Promise<LotteryStatus | undefined>;
};

export type MonitorServerOptions = { host: string; port: number; tls?: ServerTlsFiles };

export type MonitorServer = { address: AddressInfo; close(): Promise<void> };

const HEADERS = {
  // The page and its answers are live: never cached, never framed by another site.
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
} as const;

export async function startMonitorServer(options: MonitorServerOptions, source: MonitorSource): Promise<MonitorServer> {
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    void answer(request, response, source).catch((error: Error) => {
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', `${error.message}\n`);
      else response.destroy();
    });
  };
  const server: Server =
    options.tls === undefined
      ? createHttpServer(handler)
      : createHttpsServer({ ...serverTlsOptions(options.tls), requestCert: true, rejectUnauthorized: true }, handler);
  // A monitor polls; a client that holds a connection idle is let go.
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.listen(options.port, options.host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error as Error))]);
  return {
    address: server.address() as AddressInfo,
    close: async () => {
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

async function answer(request: IncomingMessage, response: ServerResponse, source: MonitorSource): Promise<void> {
  const socket = request.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate === 'function') {
    const commonName = socket.getPeerCertificate().subject?.CN;
    const identity = identityFromCommonName(typeof commonName === 'string' ? commonName : undefined);
    if (identity?.kind !== 'monitor') return send(response, 403, 'text/plain; charset=utf-8', 'only the monitor certificate is answered\n');
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD');
    return send(response, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n');
  }
  const path = new URL(request.url ?? '/', 'http://monitor').pathname;
  switch (path) {
    case '/livez':
      return send(response, 200, 'text/plain; charset=utf-8', 'ok\n');
    case '/readyz':
      return (await source.ready())
        ? send(response, 200, 'text/plain; charset=utf-8', 'ready\n')
        : send(response, 503, 'text/plain; charset=utf-8', 'not ready\n');
    case '/metrics': {
      const { contentType, text } = await source.metrics();
      return send(response, 200, contentType, text);
    }
    case '/status.json': {
      const status = await source.status();
      return status === undefined
        ? send(response, 503, 'application/json', `${JSON.stringify({ error: 'no lottery is served' })}\n`)
        : send(response, 200, 'application/json', `${JSON.stringify(status)}\n`);
    }
    case '/':
      return send(response, 200, 'text/html; charset=utf-8', STATUS_PAGE);
    default:
      return send(response, 404, 'text/plain; charset=utf-8', 'not found: the routes are /, /status.json, /metrics, /livez, /readyz\n');
  }
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { ...HEADERS, 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}
