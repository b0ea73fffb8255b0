// Several lottery-server front-ends on one PostgreSQL lottery, as real
// processes, through the faults a deployment past one machine meets: a
// front-end killed mid-upload, the database gone for a while, the primary
// crashed and its synchronous standby promoted. After each, lottery-export
// must show every agency's rows exactly once, and each agency its winners.
import test, { type ExecutionContext } from 'ava';
import { startProgram } from '../src/harness/lottery-processes.ts';
import postgres from 'postgres';
import { agencyFiles, pollUntil, serverFor, sorted, tempDir, within } from './helpers/lottery-fixtures.ts';
import { PostgresCluster, postgresMissing } from './helpers/postgres-cluster.ts';

const missing = postgresMissing();
if (missing !== undefined) test.skip(missing, () => undefined);
else registerTests();

const AGENCIES = 4;
/** Enough batches of 10 that the fault lands mid-upload. */
const SPEC = Array.from({ length: AGENCIES }, (_, i) => ({ count: 3000 + 100 * i, winnerRows: [i, 1500 + i] }));

async function clusterFor(t: ExecutionContext, synchronousStandby = false): Promise<PostgresCluster> {
  const cluster = await PostgresCluster.start({ synchronousStandby });
  t.teardown(() => cluster.remove());
  return cluster;
}

async function frontEnd(t: ExecutionContext, url: string) {
  return serverFor(t, await tempDir(t), ['--store', url, '--agencies', String(AGENCIES), '--workers', '1']);
}

/** Agencies 1..N, each given `servers(id)` as its --server list, and `args`. */
function agencies(t: ExecutionContext, files: string[], servers: (id: number) => string, args: string[] = []) {
  return files.map((file, i) => {
    const agency = startProgram('lottery-agency', [
      '--id',
      String(i + 1),
      '--server',
      servers(i + 1),
      '--data-file',
      file,
      '--batch-max-amount',
      '10',
      '--retry-timeout',
      '60',
      ...args,
    ]);
    t.teardown(() => void agency.child.kill('SIGKILL'));
    return agency;
  });
}

/** What lottery-export writes for the lottery at `url`. */
async function exported(url: string): Promise<string[]> {
  const program = startProgram('lottery-export', ['--store', url]);
  const code = await program.exited;
  if (code !== 0) throw new Error(`lottery-export exited ${code}`);
  return program.lines;
}

/** Every agency exits 0 with exactly its winners, and the export holds every row once, by agency then offset. */
async function everyRowOnce(
  t: ExecutionContext,
  running: ReturnType<typeof agencies>,
  input: Awaited<ReturnType<typeof agencyFiles>>,
  url: string,
) {
  // Within ava's 120 s for the whole test, so that a hang is reported with the agencies' last lines.
  const codes = await within(Promise.all(running.map((agency) => agency.exited)), 'the agencies to finish', 90_000).catch(
    (error: Error) => {
      throw new Error(`${error.message}\n${running.map((agency) => agency.lines.slice(-5).join('\n')).join('\n---\n')}`);
    },
  );
  t.deepEqual(
    codes,
    running.map(() => 0),
    running.map((agency) => agency.lines.slice(-5).join('\n')).join('\n---\n'),
  );
  const { winnersIn } = await import('../src/harness/lottery-processes.ts');
  t.deepEqual(
    running.map((agency) => sorted(winnersIn(agency.lines) ?? [])),
    input.winners,
  );
  t.deepEqual(await exported(url), ['agency,first_name,last_name,document,birthdate,number', ...input.rows]);
}

/** Resolves once `server` has acknowledged `count` batches. */
const stored = (
  server: { waitForLine: (pattern: RegExp, options: { count: number; timeoutMs: number }) => Promise<unknown> },
  count: number,
) => server.waitForLine(/action: apuesta_recibida \| result: success \| agencia: \d+ \| cantidad: [1-9]/, { count, timeoutMs: 60_000 });

function registerTests(): void {
  test.serial('a front-end killed mid-upload: its agencies move to the other, every row stored once, winners exact', async (t) => {
    const cluster = await clusterFor(t);
    const url = await cluster.database('lottery');
    const input = await agencyFiles(t, SPEC);
    const [a, b] = [await frontEnd(t, url), await frontEnd(t, url)];
    const list = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`];
    const running = agencies(t, input.files, (id) => (id % 2 === 1 ? list.join(',') : [...list].reverse().join(',')));
    await stored(a, 40);
    a.child.kill('SIGKILL');
    await everyRowOnce(t, running, input, url);
    t.true(
      running.some((agency) => agency.lines.some((line) => line.includes(`siguiente: 127.0.0.1:${b.port}`))),
      'an agency moved to the other front-end',
    );
  });

  test.serial(
    "a front-end frozen mid-commit, the lottery's row held: its agencies move to the other, which commits once the database ends the frozen session",
    async (t) => {
      const cluster = await clusterFor(t);
      const url = await cluster.database('lottery');
      const input = await agencyFiles(t, SPEC, 4);
      const [a, b] = [await frontEnd(t, url), await frontEnd(t, url)];
      t.teardown(() => void a.child.kill('SIGKILL'));
      // The test holds the lottery's row, so that a's first transaction waits for it...
      const holder = postgres(url, { max: 1, onnotice: () => undefined });
      t.teardown(() => holder.end({ timeout: 5 }));
      const held = await holder.reserve();
      await held`begin`;
      await held`select 1 from lotteries for update`;
      const running = agencies(t, input.files, () => `127.0.0.1:${a.port},127.0.0.1:${b.port}`, ['--reply-timeout', '3']);
      const waiting = `select count(*) from pg_stat_activity where application_name = 'lottery-server' and wait_event_type = 'Lock'`;
      await pollUntil(async () => (await cluster.sql(waiting, 'lottery')) !== '0', "front-end a's transaction waiting for the row");
      // ...then a stops, as a machine does that loses power, and the row goes to it: its session is left
      // idle in its transaction, holding the row, its process never to say another word.
      a.child.kill('SIGSTOP');
      await held`commit`;
      held.release();
      await everyRowOnce(t, running, input, url);
      for (const agency of running) {
        t.true(
          agency.lines.some((line) => new RegExp(`code: TIMEOUT .*\\(--reply-timeout\\).*siguiente: 127\\.0\\.0\\.1:${b.port}`).test(line)),
          agency.lines.join('\n'),
        );
      }
    },
  );

  test.serial('the database gone for a while: the front-end stays up, logs it once, and resumes when it is back', async (t) => {
    const cluster = await clusterFor(t);
    const url = await cluster.database('lottery');
    const input = await agencyFiles(t, SPEC, 2);
    const server = await frontEnd(t, url);
    const running = agencies(t, input.files, () => `127.0.0.1:${server.port}`);
    await stored(server, 40);
    await cluster.stop(cluster.primary, 'fast');
    await server.waitForLine(/action: store_db \| result: fail/, { timeoutMs: 30_000 });
    await cluster.restart(cluster.primary);
    await server.waitForLine(/action: store_db \| result: success/, { timeoutMs: 60_000 });
    await everyRowOnce(t, running, input, url);
    t.is(server.lines.filter((line) => /action: store_db \| result: fail/.test(line)).length, 1, 'the outage is logged once');
    t.is(server.child.exitCode, null, 'the front-end stayed up');
  });

  test.serial('the primary frozen (its machine hangs) and its synchronous standby promoted: every row once, winners exact', async (t) => {
    const cluster = await clusterFor(t, true);
    await cluster.database('lottery');
    const url = cluster.failoverUrl.replace('/postgres?', '/lottery?');
    const input = await agencyFiles(t, SPEC, 5);
    const [a, b] = [await frontEnd(t, url), await frontEnd(t, url)];
    const list = `127.0.0.1:${a.port},127.0.0.1:${b.port}`;
    const running = agencies(t, input.files, () => list);
    await stored(a, 40);
    await cluster.freeze(cluster.primary);
    // A frozen node cannot be stopped; it is killed instead, whatever the test's outcome.
    t.teardown(() => cluster.kill(cluster.primary).catch(() => undefined));
    await cluster.promoteStandby();
    // The front-ends find the new primary while the old one still takes connections and answers none.
    await within(Promise.all(running.map((agency) => agency.exited)), 'the agencies to finish', 90_000);
    // Then the old primary is fenced off for good, as an operator would before anyone reads the lottery.
    await cluster.kill(cluster.primary);
    await everyRowOnce(t, running, input, url);
  });

  test.serial('the primary crashed and its synchronous standby promoted: every row once, winners exact', async (t) => {
    const cluster = await clusterFor(t, true);
    await cluster.database('lottery');
    const url = cluster.failoverUrl.replace('/postgres?', '/lottery?');
    const input = await agencyFiles(t, SPEC, 3);
    const [a, b] = [await frontEnd(t, url), await frontEnd(t, url)];
    const list = `127.0.0.1:${a.port},127.0.0.1:${b.port}`;
    const running = agencies(t, input.files, () => list);
    await stored(a, 40);
    await cluster.stop(cluster.primary, 'immediate');
    await cluster.promoteStandby();
    await everyRowOnce(t, running, input, url);
  });
}
