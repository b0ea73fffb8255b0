// ava's settings.
//
// Many test files spend much of their time waiting (on the servers,
// agencies, PostgreSQL clusters and browsers they start, or on a timeout
// they check), so twice as many files as cores run at once: the waiting
// ones leave the cores to the others.
//
// Test files start longest first: a long file started last would run alone
// at the end, on one core, while the other stays idle; started first, the
// quick files fill the cores around it. The list is of files measured as
// the longest; a file not in it runs after them, in name order.
import os from 'node:os';

const longestFirst = [
  'tls',
  'postgres-front-ends',
  'demo',
  'postgres-verify',
  'postgres-store',
  'status-page-browser',
  'session',
  'csv-rows',
  'verify',
  'limits',
  'start-up',
  'shutdown',
  'pki',
  'hostile-frames',
  'lottery-admin',
  'durability',
  'sales-close',
].map((name) => `test/${name}.test.ts`);

const rank = (file) => {
  const index = longestFirst.findIndex((name) => file.endsWith(name));
  return index === -1 ? longestFirst.length : index;
};

export default {
  extensions: { ts: 'module' },
  files: ['test/**/*.test.ts'],
  timeout: '120s',
  workerThreads: false,
  concurrency: 2 * os.availableParallelism(),
  sortTestFiles: (a, b) => rank(a) - rank(b) || a.localeCompare(b),
};
