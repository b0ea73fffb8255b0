// A client of the server's HTTP endpoint for the tests: its port from the
// server's `listen_http` line, GET over HTTP or HTTPS (with the files of a
// lottery-pki directory), and the figures of a Prometheus text.
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { RunningProgram } from '../../src/harness/lottery-processes.ts';
import type { LotteryStatus } from '../../src/ledger/lottery-status.ts';

/** The HTTP endpoint's port, from the line the server logs when it listens there. */
export function monitorPortOf(server: RunningProgram): number {
  for (const line of server.lines) {
    const match = /action: listen_http \| result: success .*\| port: (\d+)/.exec(line);
    if (match !== null) return Number(match[1]);
  }
  throw new Error('the server logged no listen_http line');
}

export type Reply = { status: number; type: string; body: string };

/** GET `path`; `tls`: the CA, and the client's certificate and key if any. */
export function fetchMonitor(port: number, path: string, tls?: { ca: string; cert?: string; key?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path, timeout: 10_000 };
    const request = (tls === undefined ? httpGet(options, onResponse) : httpsGet({ ...options, ...tls }, onResponse)).on('error', reject);
    request.on('timeout', () => request.destroy(new Error(`GET ${path}: no answer within 10 s`)));
    function onResponse(response: import('node:http').IncomingMessage) {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          type: String(response.headers['content-type']),
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      response.on('error', reject);
    }
  });
}

export async function fetchStatus(port: number): Promise<LotteryStatus> {
  const reply = await fetchMonitor(port, '/status.json');
  if (reply.status !== 200) throw new Error(`/status.json answered ${reply.status}: ${reply.body}`);
  return JSON.parse(reply.body) as LotteryStatus;
}

/** The value of each sample line of a Prometheus text, by its name and labels as written. */
export function samplesOf(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}
