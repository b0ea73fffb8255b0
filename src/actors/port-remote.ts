// comlink's proxy onto an actor behind a MessagePort, with the one thing
// comlink leaves out: a call whose answer can no longer come fails. comlink
// keeps a pending call until its reply arrives, and when the thread on the
// other side dies no reply ever does: a Store worker that died left the
// Lottery's mailbox blocked for good behind a draw that would never answer.
// Here, as piscina fails a dead worker's in-flight tasks, every pending call
// rejects once the port closes (Node closes a port when the thread holding
// its other end exits, for any reason), and later calls reject at once.
//
// Both ends speak to the port as Node's EventEmitter, through comlink's node
// adapter. Given the bare port, comlink listens with addEventListener, and the
// first message then builds a web MessageEvent, whose class is Node's fetch
// stack: loading it cost every server thread tens of milliseconds at start.

import { expose, wrap, type Remote } from 'comlink';
import nodeAdapter from 'comlink/dist/umd/node-adapter.js';
import type { MessagePort } from 'node:worker_threads';
import { ActorGoneError } from '../errors.ts';

// The adapter is a UMD module: Node hands its module.exports over as the default.
const nodeEndpoint = nodeAdapter as unknown as typeof nodeAdapter.default;

/** Serves `face` to whoever holds the other end of `port`. */
export function exposeOnPort(face: object, port: MessagePort): void {
  expose(face, nodeEndpoint(port));
}

export function wrapPort<T>(port: MessagePort, actor: string): Remote<T> {
  const remote = wrap<T>(nodeEndpoint(port)) as Record<PropertyKey, unknown>;
  const gone = Promise.withResolvers<never>();
  // Never unhandled: each call races it, and a port may close with nothing pending.
  gone.promise.catch(() => undefined);
  let closed = false;
  port.once('close', () => {
    closed = true;
    gone.reject(new ActorGoneError(`the ${actor} is gone: its thread exited`));
  });
  return new Proxy(remote, {
    get(target, name) {
      const method = target[name];
      if (typeof method !== 'function') return method;
      return (...args: unknown[]) => {
        if (closed) return gone.promise;
        return Promise.race([(method as (...a: unknown[]) => Promise<unknown>)(...args), gone.promise]);
      };
    },
  }) as Remote<T>;
}
