// The bench's open loop against a server that acknowledges nothing until
// every batch has arrived: the load agency keeps sending on its schedule
// (a closed loop would stop at its window and wait for ever), and each
// batch's latency runs from when it was due, so the first batch is charged
// for the whole wait.
import { once } from 'node:events';
import net from 'node:net';
import test from 'ava';
import { runLoadAgency } from '../bench/load-agency.ts';
import { encodeAgencyFrames } from '../bench/load-frames.ts';
import { sendSchedule } from '../bench/load-schedule.ts';
import { encodeMessage } from '../src/wire/codec.ts';
import { FrameDecoder } from '../src/wire/frame-decoder.ts';
import { MessageType } from '../src/wire/message-type.ts';

test('in the open loop every batch is sent when due, acknowledged or not, and waits from then', async (t) => {
  const load = encodeAgencyFrames(1, 3000, 7);
  const batches = load.bets.length;
  t.true(batches >= 10, `${batches} batches`);
  // 30,000 bets a second: the last batch is due about 100 ms after WELCOME.
  const due = sendSchedule(
    load.bets.map(({ end }) => end),
    30_000,
    0,
  );
  let received = 0;
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (frame.type === MessageType.HELLO) socket.write(encodeMessage({ type: 'WELCOME', offset: 0, finished: false, drawn: false }));
        else if (frame.type === MessageType.FINISH) socket.write(encodeMessage({ type: 'ACK', offset: load.total }));
        else if (frame.type === MessageType.BETS) {
          received++;
          if (received === 1) {
            // This thread is the agency's too: held here, the batches due meanwhile leave late.
            const until = performance.now() + 30;
            while (performance.now() < until);
          }
          // One ACK for all of them, once the last has come.
          if (received === batches) socket.write(encodeMessage({ type: 'ACK', offset: load.total }));
        }
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { port } = server.address() as net.AddressInfo;

  const { latencies, retries } = await runLoadAgency(port, load, { schedule: due });

  t.is(received, batches);
  t.is(retries, 0);
  t.is(latencies.length, batches);
  // The ACK came after the last batch was due; the first batch waited at least from its own time to then.
  t.true(latencies[0] >= due[batches - 1] - due[0], `first batch waited ${latencies[0]} ms`);
  // One ACK covered them all, so each wait plus its time due is the same instant: measured from when
  // each was due, not from when it left (some left up to 30 ms late).
  for (let i = 1; i < batches; i++) t.true(Math.abs(latencies[i] + due[i] - (latencies[0] + due[0])) < 1e-6, `batch ${i}`);
});
