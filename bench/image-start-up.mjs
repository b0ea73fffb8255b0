// Start-up inside the container image, with the compile cache the image
// carries against without it (NODE_DISABLE_COMPILE_CACHE=1), interleaved in
// one run. Plain JavaScript: it runs in the image, which has no bench/ and no
// dev dependencies. Run it through bench/image-start-up.sh.
//
//   ping    lottery-ping against a closed port, to its exit: one process
//           loading a program (the health check does this every 5 s);
//   server  lottery-server from spawn to its `action: listen` line: the
//           supervisor, the Store worker and the session workers loaded.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const ROUNDS = Number(process.argv[2] ?? 7);
const modes = { cache: {}, 'no cache': { NODE_DISABLE_COMPILE_CACHE: '1' } };

/** Milliseconds from spawn until `done` resolves; the child is stopped and waited for. */
async function timeProgram(args, env, until) {
  const start = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await until(child, exited);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  child.kill('SIGTERM');
  await exited;
  return ms;
}

const ping = (env) => timeProgram(['src/bin/lottery-ping.mjs', '--server', '127.0.0.1:9', '--timeout', '1'], env, (_, exited) => exited);

async function server(env) {
  const dataDir = mkdtempSync(join(tmpdir(), 'start-up-'));
  try {
    return await timeProgram(
      ['src/bin/lottery-server.mjs', '--data-dir', dataDir, '--port', '40123', '--host', '127.0.0.1'],
      env,
      (child, exited) =>
        Promise.race([
          new Promise((resolve) =>
            createInterface({ input: child.stdout }).on('line', (line) => line.includes('action: listen') && resolve()),
          ),
          exited.then((code) => Promise.reject(new Error(`lottery-server exited ${code} before listening`))),
        ]),
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const median = (values) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
const results = {};
for (let round = 0; round < ROUNDS; round++) {
  // Alternate which mode goes first, so neither always runs on a warmer machine.
  const order = round % 2 === 0 ? Object.keys(modes) : Object.keys(modes).reverse();
  for (const mode of order) {
    for (const [name, measure] of Object.entries({ ping, server })) {
      ((results[name] ??= {})[mode] ??= []).push(await measure(modes[mode]));
    }
  }
}
for (const [name, byMode] of Object.entries(results)) {
  const withCache = median(byMode.cache);
  const without = median(byMode['no cache']);
  console.log(
    `${name.padEnd(6)} median of ${ROUNDS}: cache ${withCache.toFixed(0)} ms, no cache ${without.toFixed(0)} ms, ` +
      `saved ${(without - withCache).toFixed(0)} ms (cache/no cache = ${(withCache / without).toFixed(2)})`,
  );
}
