// Faults the workers take in when a test runs lottery-server with the
// environment faultsEnv() makes (see src/actors/fault-hooks.ts):
//   LOTTERY_FAULT_STORE_CRASH_AFTER_BATCHES=N  the store worker dies of an
//     uncaught error once it has taken N batches; the calls pending never answer.
//   LOTTERY_FAULT_SESSION_CRASH_AFTER_BATCHES=N  each of session workers
//     1..LOTTERY_FAULT_CRASHING_SESSION_WORKERS dies the same way once it has
//     passed N batches on; their replacements serve on.
//   LOTTERY_FAULT_STORE_OPENS_WHEN=FILE  the store worker does not open the
//     Store until FILE exists: a Store slow to recover, for as long as a test likes.
import type { StoreApi } from '../../src/actors/store-api.ts';
import type { SessionStore } from '../../src/actors/store-client.ts';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAULT_HOOKS_VARIABLE } from '../../src/actors/fault-hooks.ts';

export type Faults = {
  storeCrashAfterBatches?: number;
  sessionCrashAfterBatches?: number;
  crashingSessionWorkers?: number;
  storeOpensWhen?: string;
};

/** The environment that gives lottery-server's workers these faults. */
export function faultsEnv(faults: Faults): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, [FAULT_HOOKS_VARIABLE]: import.meta.url };
  if (faults.storeCrashAfterBatches !== undefined) env.LOTTERY_FAULT_STORE_CRASH_AFTER_BATCHES = String(faults.storeCrashAfterBatches);
  if (faults.sessionCrashAfterBatches !== undefined)
    env.LOTTERY_FAULT_SESSION_CRASH_AFTER_BATCHES = String(faults.sessionCrashAfterBatches);
  if (faults.crashingSessionWorkers !== undefined) env.LOTTERY_FAULT_CRASHING_SESSION_WORKERS = String(faults.crashingSessionWorkers);
  if (faults.storeOpensWhen !== undefined) env.LOTTERY_FAULT_STORE_OPENS_WHEN = faults.storeOpensWhen;
  return env;
}

const setting = (name: string) => (process.env[name] === undefined ? undefined : Number(process.env[name]));

/** An uncaught error, thrown outside the call so that the worker dies of it; the call itself never answers. */
function crash(message: string): Promise<never> {
  setImmediate(() => {
    throw new Error(`injected fault: ${message}`);
  });
  return new Promise(() => undefined);
}

/** Waits, at most a minute (then the store fails to start), for the file that lets the Store open. */
export async function beforeStoreOpens(): Promise<void> {
  const file = process.env.LOTTERY_FAULT_STORE_OPENS_WHEN;
  if (file === undefined) return;
  const deadline = performance.now() + 60_000;
  while (!existsSync(file)) {
    if (performance.now() >= deadline) throw new Error(`injected fault: ${file} did not appear within a minute`);
    await sleep(20);
  }
}

export function store(face: StoreApi): StoreApi {
  const limit = setting('LOTTERY_FAULT_STORE_CRASH_AFTER_BATCHES');
  if (limit === undefined) return face;
  let batches = 0;
  return {
    ...face,
    appendAll: (requests) => {
      batches += requests.length;
      return batches <= limit ? face.appendAll(requests) : crash(`the store worker crashes after ${limit} batches`);
    },
  };
}

export function sessionStore(target: SessionStore, worker: number): SessionStore {
  const limit = setting('LOTTERY_FAULT_SESSION_CRASH_AFTER_BATCHES');
  if (limit === undefined || worker > (setting('LOTTERY_FAULT_CRASHING_SESSION_WORKERS') ?? Infinity)) return target;
  let batches = 0;
  return {
    welcome: (agency) => target.welcome(agency),
    append: (request) => (++batches <= limit ? target.append(request) : crash(`session worker ${worker} crashes after ${limit} batches`)),
  };
}
