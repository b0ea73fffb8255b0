// The PostgreSQL primary lost mid-upload, two ways, alternating: crashed
// (pg_ctl stop -m immediate: connections to it are refused at once) and
// frozen (every process of it stopped with SIGSTOP: its kernel still takes
// connections, and nothing answers them, as a machine that hangs). Each
// round: a throwaway cluster with a synchronous standby, two front-ends on
// the URL naming both hosts, four agencies given both front-ends; the fault
// once 40 batches are stored, and the standby promoted at once. Prints, per
// round, the seconds from the fault to the last agency's exit (the rest of
// the upload, the same both ways, included), then the medians, their ratio
// and their difference: what a frozen primary costs beyond a crashed one.
// Checks that every agency got its winners; asserts nothing about time.
//   node_modules/.bin/node bench/primary-failover.ts [--rounds 3]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startProgram, startServer, winnersIn, type RunningServer } from '../src/harness/lottery-processes.ts';
import { writeAgencies } from '../test/helpers/lottery-fixtures.ts';
import { PostgresCluster, postgresMissing } from '../test/helpers/postgres-cluster.ts';
import { median } from './stats.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const rounds = Number(values.rounds);
const missing = postgresMissing();
if (missing !== undefined) {
  process.stderr.write(`primary-failover: ${missing}\n`);
  process.exit(2);
}

const AGENCIES = 4;
const SPEC = Array.from({ length: AGENCIES }, (_, i) => ({ count: 3000 + 100 * i, winnerRows: [i, 1500 + i] }));
const STORED = /action: apuesta_recibida \| result: success \| agencia: \d+ \| cantidad: [1-9]/;
type Fault = 'crashed' | 'frozen';

async function round(fault: Fault): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'lottery-failover-'));
  const cluster = await PostgresCluster.start({ synchronousStandby: true });
  const frontEnds: RunningServer[] = [];
  try {
    await cluster.database('lottery');
    const url = cluster.failoverUrl.replace('/postgres?', '/lottery?');
    const inputs = await writeAgencies(dir, SPEC);
    for (const name of ['a', 'b']) {
      const args = ['--store', url, '--agencies', String(AGENCIES), '--workers', '1', '--data-dir', join(dir, name)];
      frontEnds.push(await startServer(args, { startTimeoutMs: 60_000 }));
    }
    const servers = frontEnds.map((server) => `127.0.0.1:${server.port}`).join(',');
    const agencies = inputs.map((input) =>
      startProgram('lottery-agency', [
        '--id',
        String(input.id),
        '--server',
        servers,
        '--data-file',
        input.file,
        '--batch-max-amount',
        '10',
      ]),
    );
    await frontEnds[0].waitForLine(STORED, { count: 40, timeoutMs: 60_000 });
    const at = performance.now();
    if (fault === 'crashed') await cluster.stop(cluster.primary, 'immediate');
    else await cluster.freeze(cluster.primary);
    await cluster.promoteStandby();
    const exits = await Promise.all(agencies.map((agency) => agency.exited));
    const lastExit = performance.now();
    agencies.forEach((agency, i) => {
      const winners = [...(winnersIn(agency.lines) ?? [])].sort();
      if (exits[i] !== 0 || winners.join() !== inputs[i].winners.join())
        throw new Error(`agency ${i + 1} (${fault}): exit ${exits[i]}, winners ${winners.join()}\n${agency.lines.slice(-5).join('\n')}`);
    });
    return (lastExit - at) / 1000;
  } finally {
    for (const server of frontEnds) server.child.kill('SIGKILL');
    await cluster.kill(cluster.primary).catch(() => undefined);
    await cluster.remove();
    await rm(dir, { recursive: true, force: true });
  }
}

const seconds: Record<Fault, number[]> = { crashed: [], frozen: [] };
for (let i = 1; i <= rounds; i++) {
  // The order alternates, so that neither always runs second on a warmer machine.
  const order: Fault[] = i % 2 === 1 ? ['crashed', 'frozen'] : ['frozen', 'crashed'];
  for (const fault of order) {
    const lastExit = await round(fault);
    seconds[fault].push(lastExit);
    console.log(`round ${i}/${rounds}: primary ${fault}: last agency exit ${lastExit.toFixed(1)} s after it`);
  }
}
const [crashed, frozen] = [median(seconds.crashed), median(seconds.frozen)];
console.log(
  `medians: crashed ${crashed.toFixed(1)} s, frozen ${frozen.toFixed(1)} s: ${(frozen / crashed).toFixed(1)}×, ` +
    `${(frozen - crashed).toFixed(1)} s more (a transaction's bound is 10 s)`,
);
