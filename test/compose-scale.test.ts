// compose/scale.yaml: generated, as dev.yaml is; the database, two
// front-ends on it and every agency given both, each starting on its own.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { composeFile, composeYaml } from '../src/compose/compose-file.ts';

test('compose/scale.yaml is what lottery-compose --agencies 5 --scale on writes', async (t) => {
  t.is(await readFile(new URL('../compose/scale.yaml', import.meta.url), 'utf8'), composeYaml({ agencies: 5, scale: true }));
});

test('the front-ends share the database and no data volume; each agency is given both, its own first', (t) => {
  const { services, volumes } = composeFile({ agencies: 3, scale: true });
  t.deepEqual(Object.keys(services), ['setup', 'db', 'server1', 'server2', 'agency1', 'agency2', 'agency3']);
  t.is(services.db.image, 'postgres:15');
  t.deepEqual(Object.keys(volumes), [
    'database',
    'setup',
    'server1-inputs',
    'server2-inputs',
    'agency1-inputs',
    'agency2-inputs',
    'agency3-inputs',
  ]);
  // The setup fills each front-end's volume with the server's files, and names both in certificates it makes.
  t.is((services.setup.environment as Record<string, string>).LOTTERY_COMPOSE_SERVERS, 'server1,server2');
  for (const name of ['server1', 'server2']) {
    const environment = services[name].environment as Record<string, string>;
    t.is(environment.LOTTERY_STORE, 'postgres://lottery@db:5432/lottery');
    t.false('LOTTERY_DATA_DIR' in environment);
    t.deepEqual(
      (services[name].volumes as Array<{ type: string; source: string }>)
        .filter((mount) => mount.type === 'volume')
        .map(({ source }) => source),
      [`${name}-inputs`],
      'its own inputs, and no bets volume',
    );
    t.deepEqual((services[name].depends_on as Record<string, unknown>).db, { condition: 'service_healthy' });
  }
  const servers = (id: number) => (services[`agency${id}`].environment as Record<string, string>).CLI_SERVER_ADDRESS;
  t.is(servers(1), 'server1:12345,server2:12345');
  t.is(servers(2), 'server2:12345,server1:12345');
  t.is(servers(3), 'server1:12345,server2:12345');
  // Started once the setup is done, as in the dev file: a front-end down or unhealthy keeps no agency from starting.
  for (const id of [1, 2, 3])
    t.deepEqual(services[`agency${id}`].depends_on, { setup: { condition: 'service_completed_successfully' } }, `agency${id}`);
});
