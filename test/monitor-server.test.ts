// The HTTP endpoint's routes in process, over a source the test holds: what
// /readyz says when the server is not ready, and what each route answers.
import test from 'ava';
import { startMonitorServer, type MonitorSource } from '../src/http/monitor-server.ts';
import { lotteryStatus } from '../src/ledger/lottery-status.ts';
import { fetchMonitor } from './helpers/monitor-client.ts';

async function serve(t: import('ava').ExecutionContext, source: Partial<MonitorSource>) {
  const server = await startMonitorServer(
    { host: '127.0.0.1', port: 0 },
    {
      ready: async () => true,
      metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', text: '' }),
      status: async () => undefined,
      ...source,
    },
  );
  t.teardown(() => server.close());
  return server.address.port;
}

test('/readyz is 503 while the server is not ready (before listening, a store that does not answer, stopping), /livez 200 all along', async (t) => {
  let ready = false;
  const port = await serve(t, { ready: async () => ready });
  t.is((await fetchMonitor(port, '/readyz')).status, 503);
  t.is((await fetchMonitor(port, '/livez')).status, 200);
  ready = true;
  t.is((await fetchMonitor(port, '/readyz')).status, 200);
});

test('/status.json is 503 while no lottery is served, and the status as JSON once it is', async (t) => {
  let status: ReturnType<typeof lotteryStatus> | undefined;
  const port = await serve(t, { status: async () => status });
  t.is((await fetchMonitor(port, '/status.json')).status, 503);
  status = lotteryStatus({
    agencies: 2,
    states: new Map(),
    connected: new Set([2]),
    bets: 0,
    betsPerSecond: 0,
    winners: null,
    drawDigest: null,
  });
  const reply = await fetchMonitor(port, '/status.json');
  t.is(reply.status, 200);
  t.is(reply.type, 'application/json');
  t.deepEqual(JSON.parse(reply.body), status);
});

test('a failing source is a 500 with its reason, and the endpoint goes on answering', async (t) => {
  const port = await serve(t, {
    metrics: async () => {
      throw new Error('the store did not answer');
    },
  });
  const reply = await fetchMonitor(port, '/metrics');
  t.is(reply.status, 500);
  t.is(reply.body, 'the store did not answer\n');
  t.is((await fetchMonitor(port, '/livez')).status, 200);
});
