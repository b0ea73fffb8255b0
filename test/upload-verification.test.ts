// End-to-end verification of an upload: FINISH carries the agency's count and
// digest (see FINISH in src/wire/messages.ts), and the agency exits 0 only
// when the server holds exactly the rows of its file.
import test from 'ava';
import { join } from 'node:path';
import { generateBets, writeAgencyFile } from '../src/bets/bet-generator.ts';
import { uploadDigestOf } from '../src/bets/upload-digest.ts';
import type { WireBet } from '../src/wire/messages.ts';
import { connectRaw } from './helpers/raw-connection.ts';
import { agencyFor, serverFor, tempDir } from './helpers/lottery-fixtures.ts';

test('a FINISH whose digest is not that of the stored rows gets DIGEST_MISMATCH and does not count', async (t) => {
  const dir = await tempDir(t);
  const server = await serverFor(t, join(dir, 'server'), ['--agencies', '1']);
  const client = await connectRaw(server.port);
  t.teardown(() => client.destroy());
  const bets = generateBets({ seed: 5, count: 4 });
  client.send({ type: 'HELLO', agency: 1 });
  t.like(await client.receive(), { type: 'WELCOME', offset: 0 });
  client.send({ type: 'BETS', offset: 0, bets });
  t.deepEqual(await client.receive(), { type: 'ACK', offset: 4 });
  // The same count, but one bet is not the one stored.
  const other = bets.map((bet, i) => (i === 2 ? ([bet[0], bet[1], '1', bet[3], bet[4]] as WireBet) : bet));
  client.send({ type: 'FINISH', total: 4, digest: uploadDigestOf(1, other) });
  const answer = await client.receive();
  t.like(answer, { type: 'ERROR', code: 'DIGEST_MISMATCH' });
  await client.closed;
  const again = await connectRaw(server.port);
  t.teardown(() => again.destroy());
  again.send({ type: 'HELLO', agency: 1 });
  t.like(await again.receive(), { type: 'WELCOME', offset: 4, finished: false });
  again.send({ type: 'FINISH', total: 4, digest: uploadDigestOf(1, bets) });
  t.deepEqual(await again.receive(), { type: 'ACK', offset: 4 });
});

test('an agency run again with another file against a finished lottery says so and exits non-zero; with its own file it gets its winners', async (t) => {
  const dir = await tempDir(t);
  const server = await serverFor(t, join(dir, 'server'), ['--agencies', '1']);
  const own = join(dir, 'agency-1.csv');
  const bets = generateBets({ seed: 8, count: 50, winnerRows: [3] });
  await writeAgencyFile(own, bets);
  const first = await agencyFor(t, 1, server.port, ['--data-file', own]).result;
  t.is(first.code, 0, first.lines.slice(-5).join('\n'));
  t.deepEqual(first.winners, [bets[3][2]]);

  const another = join(dir, 'another.csv');
  await writeAgencyFile(another, generateBets({ seed: 9, count: 50, winnerRows: [1] }));
  const rerun = await agencyFor(t, 1, server.port, ['--data-file', another]).result;
  t.not(rerun.code, 0);
  t.true(
    rerun.lines.some((line) =>
      /already finished in this lottery: the server took 50 rows from it .*it is not the file that was uploaded.*new data dir/.test(line),
    ),
    rerun.lines.join('\n'),
  );
  t.is(rerun.winners, undefined);

  const same = await agencyFor(t, 1, server.port, ['--data-file', own]).result;
  t.is(same.code, 0, same.lines.slice(-5).join('\n'));
  t.deepEqual(same.winners, [bets[3][2]]);
});
