// The session's per-batch work, alone and single-threaded: BETS payloads the
// real agency would send, turned into canonical bet lines by the fast path
// (bet-rows-from-payload.ts) and by the general one (msgpackr, validateBet,
// encodeCanonicalLines), as the session hands them to the Store. Prints
// bets/s for each.
//   node bench/bet-rows.ts [BETS]   (default 1000000)
import { todayUtc, validateBet } from '../src/bets/bet.ts';
import { betRowsFromPayload } from '../src/bets/bet-rows-from-payload.ts';
import { encodeCanonicalLines } from '../src/bets/canonical-bet.ts';
import { decodeAs } from '../src/wire/codec.ts';
import { HEADER_SIZE } from '../src/wire/frame.ts';
import { MessageType } from '../src/wire/message-type.ts';
import { encodeAgencyFrames } from './load-frames.ts';

const bets = Number(process.argv[2] ?? 1_000_000);
const payloads = encodeAgencyFrames(1, bets, 1).bets.map(({ frame }) =>
  Buffer.from(frame.buffer, frame.byteOffset + HEADER_SIZE, frame.length - HEADER_SIZE),
);
const today = todayUtc();

function time(name: string, batch: (payload: Buffer) => number): void {
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    let rows = 0;
    for (const payload of payloads) rows += batch(payload);
    const seconds = (performance.now() - started) / 1000;
    if (rows !== bets) throw new Error(`${name}: ${rows} rows for ${bets} bets`);
    console.log(
      `${name.padEnd(14)} round ${round + 1}: ${Math.round(bets / seconds)
        .toLocaleString('en-US')
        .padStart(12)} bets/s`,
    );
  }
}

time('fast path', (payload) => betRowsFromPayload(payload, 1, today)!.count);
time('general path', (payload) => {
  const message = decodeAs({ type: MessageType.BETS, payload }, 'BETS');
  const valid = message.bets.map((bet) => validateBet(bet, today));
  encodeCanonicalLines(1, valid);
  return valid.length;
});
