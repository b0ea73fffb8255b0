import test from 'ava';
import type { Remote } from 'comlink';
import { MessageChannel } from 'node:worker_threads';
import { exposeOnPort, wrapPort } from '../src/actors/port-remote.ts';
import { StoreClient } from '../src/actors/store-client.ts';
import type { AppendOutcome, AppendRequest, StoreApi } from '../src/actors/store-api.ts';

const request = (agency: number, offset: number): AppendRequest => ({ agency, offset, count: 1, rows: Uint8Array.of(0x0a) });

/** A stand-in for the Store's comlink proxy that records each appendAll call. */
function fakeRemote(answer: (requests: AppendRequest[]) => Promise<AppendOutcome[]>) {
  const calls: AppendRequest[][] = [];
  const remote = {
    appendAll: (requests: AppendRequest[]) => {
      calls.push(requests);
      return answer(requests);
    },
    welcome: async (agency: number) => ({ offset: agency, finished: false, drawn: false }),
  } as unknown as Remote<StoreApi>;
  return { remote, calls };
}

const storedAll = async (requests: AppendRequest[]): Promise<AppendOutcome[]> =>
  requests.map(({ offset }) => ({ status: 'stored', next: offset + 1, stored: 1 }));

test('the appends of one turn go in one call, in order, and each gets its own outcome', async (t) => {
  const { remote, calls } = fakeRemote(storedAll);
  const client = new StoreClient(remote);
  const outcomes = Promise.all([client.append(request(1, 0)), client.append(request(2, 0)), client.append(request(1, 1))]);
  t.is(calls.length, 0, 'nothing is sent before the turn ends');
  t.deepEqual(await outcomes, [
    { status: 'stored', next: 1, stored: 1 },
    { status: 'stored', next: 1, stored: 1 },
    { status: 'stored', next: 2, stored: 1 },
  ]);
  t.deepEqual(calls, [[request(1, 0), request(2, 0), request(1, 1)]]);
});

test('appends of later turns go in later calls', async (t) => {
  const { remote, calls } = fakeRemote(storedAll);
  const client = new StoreClient(remote);
  await client.append(request(1, 0));
  await client.append(request(1, 1));
  t.deepEqual(calls, [[request(1, 0)], [request(1, 1)]]);
});

test('a failed call fails every append it carried, and the next turn starts afresh', async (t) => {
  let fail = true;
  const { remote } = fakeRemote(async (requests) => {
    if (fail) throw new Error('the store is closed');
    return storedAll(requests);
  });
  const client = new StoreClient(remote);
  const results = await Promise.allSettled([client.append(request(1, 0)), client.append(request(2, 0))]);
  t.deepEqual(
    results.map((result) => result.status),
    ['rejected', 'rejected'],
  );
  fail = false;
  t.like(await client.append(request(1, 0)), { status: 'stored', next: 1 });
  t.deepEqual(await client.welcome(4), { offset: 4, finished: false, drawn: false });
});

test("a batch's own rows are moved to the Store's side, a view into a larger buffer is copied", async (t) => {
  const received: string[] = [];
  const store = {
    appendAll: (requests: AppendRequest[]) => {
      for (const { rows } of requests) received.push(Buffer.from(rows!).toString());
      return storedAll(requests);
    },
    welcome: async (agency: number) => ({ offset: agency, finished: false, drawn: false }),
  };
  const { port1, port2 } = new MessageChannel();
  t.teardown(() => port1.close());
  exposeOnPort(store, port1);
  const client = new StoreClient(wrapPort<StoreApi>(port2, 'Store'));
  const owned = new TextEncoder().encode('1,Ana,Paz,1,2000-01-01,7\n');
  const larger = new TextEncoder().encode('xx1,Eva,Sol,2,2000-01-02,8\nyy');
  const view = larger.subarray(2, larger.length - 2);
  const pooled = Buffer.from('1,Flor,Luz,3,2000-01-03,9\n');
  await Promise.all([
    client.append({ agency: 1, offset: 0, count: 1, rows: owned }),
    client.append({ agency: 1, offset: 1, count: 1, rows: view }),
    client.append({ agency: 1, offset: 2, count: 1, rows: pooled }),
  ]);
  t.deepEqual(received, ['1,Ana,Paz,1,2000-01-01,7\n', '1,Eva,Sol,2,2000-01-02,8\n', '1,Flor,Luz,3,2000-01-03,9\n']);
  t.is(owned.buffer.byteLength, 0, 'moved: this side no longer holds it');
  t.is(Buffer.from(larger).toString(), 'xx1,Eva,Sol,2,2000-01-02,8\nyy', 'the larger buffer stays whole');
  t.is(pooled.toString(), '1,Flor,Luz,3,2000-01-03,9\n', "Node's shared pool stays whole");
});
