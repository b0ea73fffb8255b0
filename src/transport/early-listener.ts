// The server's listening socket, opened before anything else of the server
// loads: lottery-server opens it right after reading its configuration, so
// that an agency started beside the server connects at once instead of
// being refused and retrying. It only queues what it accepts, paused and
// unread (pauseOnConnect: not one byte is read on the main thread), until
// the Acceptor takes the socket over and applies its limits. Nothing here
// may pull in the logger, the codec or TLS: that is the point of it.
import net, { type AddressInfo, type Socket } from 'node:net';

export type EarlyListener = {
  readonly server: net.Server;
  readonly address: AddressInfo;
  /**
   * The connections queued so far; from now on each new one goes to
   * `onConnection` instead. Called once, by the Acceptor.
   */
  handOver(onConnection: (socket: Socket) => void): Socket[];
};

/** Listens on host:port; rejects with the listen's error (EADDRINUSE, EACCES) before accepting anything. */
export function listenEarly(host: string, port: number): Promise<EarlyListener> {
  const queued: Socket[] = [];
  let onConnection: ((socket: Socket) => void) | undefined;
  const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    if (onConnection === undefined) queued.push(socket);
    else onConnection(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve({
        server,
        address: server.address() as AddressInfo,
        handOver(taker) {
          onConnection = taker;
          return queued.splice(0);
        },
      });
    });
  });
}
