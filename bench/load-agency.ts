// One load agency: the real agency's conversation with none of its work.
// HELLO, wait WELCOME, send pre-encoded BETS frames keeping `window` batches
// in flight, take cumulative ACKs, then FINISH and wait its ACK. Records how
// long each batch waited for the ACK that covered it. Given a schedule (the
// open loop, --rate), it sends each batch when it is due instead, whatever
// has been acknowledged, and a batch's wait runs from when it was due
// (load-schedule.ts). Like the real agency,
// a connection that fails before WELCOME (refused, reset, a TLS handshake
// the server timed out while thousands of others were in line) is tried
// again with backoff; any failure after WELCOME fails the run.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import tls, { type SecureContext } from 'node:tls';
import { Backoff } from '../src/timing/backoff.ts';
import { clientTlsOptions, type ClientTlsFiles } from '../src/transport/client-tls.ts';
import { decodeMessage } from '../src/wire/codec.ts';
import { FrameDecoder } from '../src/wire/frame-decoder.ts';
import type { Message } from '../src/wire/messages.ts';
import type { AgencyFrames } from './load-frames.ts';
import { dueUpTo } from './load-schedule.ts';

export type AgencyLoadResult = {
  agency: number;
  /** ms from writing each batch (or, on a schedule, from when it was due) to the ACK that covered it, in batch order. */
  latencies: Float64Array;
  /** Connections tried again because they failed before WELCOME. */
  retries: number;
};

/** As the real agency: 50–100 ms at first, doubling up to 2.5–5 s, for at most a minute. */
const RECONNECT_BACKOFF = { firstMs: 100, maxMs: 5000, jitter: true } as const;
const RETRY_FOR_MS = 60_000;

/** A connection that failed before the server said WELCOME: worth another try. */
class NotWelcomed extends Error {}

/**
 * How an agency paces its batches: as many in flight as `window` allows (the
 * closed loop, as the real agency), or each at its time in `schedule`, ms
 * after WELCOME (the open loop).
 */
export type Pace = { window: number } | { schedule: Float64Array };

/**
 * An agency's TLS: its files, and the SecureContext made from them before
 * the clock starts (see agencyTls), as the real agency makes its own once
 * before it connects. Made anew for each connection, it cost the load
 * agencies 0.8 ms of the 1.9 ms of CPU a connection took them.
 */
export type AgencyTls = { files: ClientTlsFiles; context: SecureContext };

export function agencyTls(files: ClientTlsFiles): AgencyTls {
  const { ca, cert, key, minVersion } = clientTlsOptions('127.0.0.1', 0, files);
  return { files, context: tls.createSecureContext({ ca, cert, key, minVersion }) };
}

/** With `agencyTls`, over mutual TLS as the real agency connects. */
export async function runLoadAgency(
  port: number,
  load: AgencyFrames,
  pace: Pace,
  agencyTls?: AgencyTls,
  localAddress?: string,
): Promise<AgencyLoadResult> {
  const backoff = new Backoff(RECONNECT_BACKOFF);
  const giveUpAt = performance.now() + RETRY_FOR_MS;
  while (true) {
    try {
      return { ...(await connectOnce(port, load, pace, agencyTls, localAddress)), retries: backoff.failures };
    } catch (error) {
      if (!(error instanceof NotWelcomed) || performance.now() > giveUpAt) throw error;
      await sleep(backoff.next());
    }
  }
}

function connectOnce(
  port: number,
  load: AgencyFrames,
  pace: Pace,
  agencyTls: AgencyTls | undefined,
  localAddress: string | undefined,
): Promise<Omit<AgencyLoadResult, 'retries'>> {
  return new Promise((resolve, reject) => {
    const from = localAddress === undefined ? {} : { localAddress };
    const socket =
      agencyTls === undefined
        ? net.connect({ host: '127.0.0.1', port, ...from })
        : tls.connect({ ...clientTlsOptions('127.0.0.1', port, agencyTls.files), secureContext: agencyTls.context, ...from });
    socket.setNoDelay(true);
    const decoder = new FrameDecoder();
    const sentAt = new Float64Array(load.bets.length);
    const latencies = new Float64Array(load.bets.length);
    let phase: 'welcome' | 'bets' | 'finish' | 'done' = 'welcome';
    let sent = 0;
    let acked = 0;
    let draining = false;
    let welcomedAt = 0;
    let timer: NodeJS.Timeout | undefined;

    const fail = (why: string) => {
      if (phase === 'done') return;
      const welcomed = phase !== 'welcome';
      phase = 'done';
      clearTimeout(timer);
      socket.destroy();
      const message = `load agency ${load.agency}: ${why} (${acked}/${load.bets.length} batches acknowledged)`;
      reject(welcomed ? new Error(message) : new NotWelcomed(message));
    };

    const pump = () => {
      if ('window' in pace) {
        while (!draining && sent < load.bets.length && sent - acked < pace.window) {
          const ok = socket.write(load.bets[sent].frame);
          sentAt[sent++] = performance.now();
          if (!ok) draining = true;
        }
      } else if (timer === undefined) {
        // Every batch now due, even if the socket's buffer is full: its wait counts from when it was due.
        const due = dueUpTo(pace.schedule, performance.now() - welcomedAt, sent);
        if (due > sent) {
          socket.cork();
          for (; sent < due; sent++) {
            socket.write(load.bets[sent].frame);
            sentAt[sent] = welcomedAt + pace.schedule[sent];
          }
          socket.uncork();
        }
        if (sent < load.bets.length) {
          timer = setTimeout(
            () => {
              timer = undefined;
              pump();
            },
            Math.max(0, welcomedAt + pace.schedule[sent] - performance.now()),
          );
        }
      }
      if (acked === load.bets.length) {
        phase = 'finish';
        socket.write(load.finish);
      }
    };

    const onMessage = (message: Message) => {
      if (message.type === 'ERROR') {
        // Refused before WELCOME for a reason another try cannot change: fail the run, not retry.
        if (phase === 'welcome') phase = 'bets';
        return fail(`the server answered ${message.code}: ${message.message}`);
      }
      if (phase === 'welcome') {
        if (message.type !== 'WELCOME') return fail(`expected WELCOME, got ${message.type}`);
        if (message.offset !== 0) return fail(`WELCOME says offset ${message.offset}: the server was not fresh`);
        phase = 'bets';
        welcomedAt = performance.now();
        return pump();
      }
      if (message.type !== 'ACK') return fail(`expected ACK, got ${message.type}`);
      if (phase === 'bets') {
        const now = performance.now();
        while (acked < sent && load.bets[acked].end <= message.offset) {
          latencies[acked] = now - sentAt[acked];
          acked++;
        }
        return pump();
      }
      if (phase === 'finish') {
        if (message.offset !== load.total) return fail(`FINISH acknowledged ${message.offset}, sent ${load.total}`);
        phase = 'done';
        socket.end();
        resolve({ agency: load.agency, latencies });
      }
    };

    socket.on(agencyTls === undefined ? 'connect' : 'secureConnect', () => socket.write(load.hello));
    socket.on('drain', () => {
      draining = false;
      if (phase === 'bets') pump();
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of decoder.push(chunk)) {
          onMessage(decodeMessage(frame));
          if (phase === 'done') return;
        }
      } catch (error) {
        fail(`bad reply: ${(error as Error).message}`);
      }
    });
    socket.on('error', (error) => fail(error.message));
    socket.on('close', () => fail('the connection closed'));
  });
}
