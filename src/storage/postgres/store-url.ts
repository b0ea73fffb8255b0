// The --store URL: a PostgreSQL connection URL as libpq reads it, several
// hosts included. Its password must never reach a log line, so what is
// shown of it is always masked here.
import net from 'node:net';
import type { Sql } from 'postgres';

/** Whether `value` is a PostgreSQL URL (postgres:// or postgresql://). */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\/[^\s]*$/.test(value);
}

/** `url` with its password, if any, shown as ***: for the config line and every message. */
export function maskedStoreUrl(url: string): string {
  // The userinfo ends at the last @ before the hosts; a password in the query (?password=) is masked too.
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/, '$1:***@').replace(/([?&]password=)[^&]*/i, '$1***');
}

/** Seconds a connection may take to be answered: a host that hangs is left for the next after it. */
const CONNECT_TIMEOUT_S = 10;

/** How many hosts `url` names (host:port,host:port…). */
export function hostCount(url: string): number {
  const hosts = /^postgres(?:ql)?:\/\/(?:[^@/]*@)?([^/?]*)/.exec(url)?.[1] ?? '';
  return Math.max(1, hosts.split(',').length);
}

/**
 * Resolves once `sql` reaches a server that answers, going through the
 * URL's hosts in order as libpq does: one that refuses the connection, or
 * takes it and hangs past the connect timeout, is left for the next (see
 * HostOrder), and the last one's failure is the answer. For the programs
 * that read a lottery (lottery-export, lottery-verify), before their first
 * statement; the Store goes on to the next host by its own failures.
 */
export async function reachable(sql: Sql, url: string): Promise<void> {
  for (let tried = 1; ; tried++) {
    try {
      await sql`select 1`;
      return;
    } catch (error) {
      if (tried >= hostCount(url) || !connectionFailed(error)) throw error;
    }
  }
}

/** postgres.js's connection errors (CONNECT_TIMEOUT, CONNECTION_CLOSED…) and the system's (ECONNREFUSED…); not the server's own, by SQLSTATE. */
function connectionFailed(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (/^CONNECT/.test(code) || /^E[A-Z]+$/.test(code));
}

/**
 * postgres.js's options for a --store URL, the session attributes as libpq
 * means them. libpq's target_session_attrs=read-write refuses a server in
 * hot standby; postgres.js judges read-write by default_transaction_read_only
 * alone, which a standby of PostgreSQL 14 or later reports as off at
 * connect, so it would settle on a standby still in recovery (every write
 * then fails with 25006 until it is promoted, and failing writes left a
 * pooled connection's answers out of step). It is asked for `primary`
 * instead: not in hot standby. A primary that is read-only by default is
 * still found out, by its first write, which costs the pool its connections.
 */
export function connectionOptions(url: string, applicationName: string) {
  const attrs = /[?&]target_session_attrs=([^&]*)/.exec(url)?.[1];
  return {
    onnotice: () => undefined,
    // A host that takes the connection and never answers (hung) is given what a transaction is, not 30 s.
    connect_timeout: CONNECT_TIMEOUT_S,
    connection: { application_name: applicationName },
    socket: noDelaySockets(),
    ...(attrs === 'read-write' ? { target_session_attrs: 'primary' as const } : {}),
  };
}

/** What postgres.js hands its `socket` option: the URL's hosts and ports, or a Unix socket's path. */
type SocketTarget = { host: string[]; port: number[]; path?: string | false };

/**
 * Which of a URL's hosts the next connection goes to, as libpq goes through
 * them: each in the order given, the next only once the one before has
 * failed. A connection to the host in use that fails or ends (refused,
 * lost, the server not the one asked for, or without the database) moves
 * the pool on to the next host, and from the last back to the first; one to
 * a host the pool has already left changes nothing.
 */
export class HostOrder {
  readonly #hosts: number;
  #current = 0;

  constructor(hosts: number) {
    this.#hosts = hosts;
  }

  /** The host the next connection goes to. */
  next(): number {
    return this.#current;
  }

  /** A connection to host `at` failed or ended. */
  ended(at: number): void {
    if (at === this.#current) this.#current = (at + 1) % this.#hosts;
  }
}

/** postgres.js's `socket` option, with a way to give up on every connection it has made. */
export type StoreSockets = ((target: SocketTarget) => net.Socket & { host?: string; port?: number }) & {
  /**
   * Destroys every connection still open, as the Store does with a pool it
   * drops after a failure: each counts as ended for HostOrder. A pool's own
   * end would ask each server to close, and wait for it: a server that has
   * hung never answers, its host would stay the one in use, and every new
   * pool would go to it again.
   */
  abandon(): void;
};

/**
 * postgres.js's sockets as libpq makes them: TCP with Nagle's algorithm off.
 * postgres.js leaves it on, and then a small message sent after a large one
 * (the next statement after a COPY) waits for the server's delayed ACK, 40
 * ms on Linux, once per group commit (measured in bench/README.md). Each
 * socket goes to the host HostOrder names: a connection refused or lost, or
 * a server that is not the one asked for (target_session_attrs: postgres.js
 * ends it and asks for another), moves the pool on to the next. The order
 * holds across the pools made with the same options, as the Store makes a
 * fresh pool after each failure. The socket is handed over still
 * connecting; what postgres.js writes meanwhile waits for the connection.
 */
function noDelaySockets(): StoreSockets {
  let order: HostOrder | undefined;
  const open = new Set<net.Socket>();
  const make = ({ host, port, path }: SocketTarget) => {
    if (typeof path === 'string' && path !== '') return net.connect(path);
    order ??= new HostOrder(host.length);
    const at = order.next();
    const socket = net.connect({ host: host[at], port: port[at], noDelay: true });
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      order!.ended(at);
    });
    // postgres.js names the host in its errors, and checks a TLS certificate against it.
    return Object.assign(socket, { host: host[at], port: port[at] });
  };
  return Object.assign(make, {
    abandon: () => {
      for (const socket of open) socket.destroy();
    },
  });
}
