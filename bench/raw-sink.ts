// Starts and stops the raw sink (raw-sink-process.ts). It runs in a child
// process of its own, as the real server does: its sockets count against
// its own descriptor limit, not the bench's (10,000 agencies need 10,000 on
// each side), and its event loop runs beside the load agencies on the other
// core, as the server's threads would. It is told each agency's batch ends
// and builds the same ACKs the server would send.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import type { ServerTlsFiles } from '../src/transport/server-transport.ts';
import type { AgencyFrames } from './load-frames.ts';
import type { RawSinkData } from './raw-sink-process.ts';

export type RawSink = { port: number; pid: number; stop(): Promise<void> };

/** With `tls`, the sink speaks mutual TLS as the server does. */
export async function startRawSink(load: readonly AgencyFrames[], tls?: ServerTlsFiles): Promise<RawSink> {
  const child = fork(new URL('./raw-sink-process.ts', import.meta.url), {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  const data: RawSinkData = {
    agencies: load.map(({ bets, total }) => ({ ends: bets.map(({ end }) => end), total })),
    ...(tls === undefined ? {} : { tls }),
  };
  child.send(data);
  const [message] = (await Promise.race([
    once(child, 'message'),
    exited.then(() => {
      throw new Error('the raw sink exited before it listened');
    }),
  ])) as [{ port: number }];
  return {
    port: message.port,
    pid: child.pid!,
    stop: async () => {
      child.send('stop');
      // The sink closes its listener and exits; connections the agencies ended go with it.
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
