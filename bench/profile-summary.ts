// Summarises V8 CPU profiles (.cpuprofile, as `node --cpu-prof` writes one
// per thread): which thread it is, how much of it was idle or GC, and the
// functions with the most self time.
//   node bench/profile-summary.ts [--top N] [--by function|file] [--callers NAME] FILE-OR-DIR...
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

type CallFrame = { functionName: string; url: string; lineNumber: number; columnNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] };
type Profile = { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };

const ROOT = new URL('..', import.meta.url).href;

const { values, positionals } = parseArgs({
  options: {
    top: { type: 'string', default: '15' },
    by: { type: 'string', default: 'function' },
    callers: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
if (values.help || positionals.length === 0) {
  console.log(
    'Usage: node bench/profile-summary.ts [--top N] [--by function|file] [--callers NAME] FILE.cpuprofile|DIR...\n' +
      '--by file adds up self time per source file (package for node_modules)\n' +
      '--callers NAME also shows which call paths (three frames up) the self time of function NAME comes from',
  );
  process.exit(values.help ? 0 : 2);
}
const top = Number(values.top);
const byFile = values.by === 'file';
const callersOf = values.callers;

for (const file of await profileFiles(positionals)) {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  console.log(summarise(basename(file), profile));
  console.log();
}

async function profileFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    if ((await stat(path)).isDirectory()) {
      const names = (await readdir(path)).filter((name) => name.endsWith('.cpuprofile')).sort();
      files.push(...names.map((name) => join(path, name)));
    } else files.push(path);
  }
  return files;
}

function summarise(name: string, profile: Profile): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  // A sample's time is the gap to the next sample (the last one gets none).
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length - 1; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + profile.timeDeltas[i + 1]);
  }
  const totals = new Map<string, { label: string; where: string; us: number }>();
  let all = 0;
  let idle = 0;
  let gc = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id)!;
    all += us;
    if (callFrame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    if (callFrame.functionName === '(garbage collector)') gc += us;
    const where = location(callFrame);
    const file = where.replace(/:\d+$/, '');
    const special = /^\(.*\)$/.test(callFrame.functionName);
    const label = byFile ? file || (special ? callFrame.functionName : '(native code)') : callFrame.functionName || '(anonymous)';
    const key = byFile ? label : `${callFrame.functionName}@${where}`;
    const entry = totals.get(key) ?? { label, where: byFile ? '' : where, us: 0 };
    entry.us += us;
    totals.set(key, entry);
  }
  const busy = all - idle;
  const ms = (us: number) => (us / 1000).toFixed(1);
  const pct = (us: number, of: number) => `${of === 0 ? '0.0' : ((100 * us) / of).toFixed(1)}%`;
  const lines = [
    `${name}: ${threadRole(profile)}`,
    `  ${ms(all)} ms sampled, ${ms(busy)} ms busy (${pct(busy, all)}), GC ${ms(gc)} ms (${pct(gc, busy)} of busy)`,
    `  ${'self ms'.padStart(9)} ${'% busy'.padStart(7)}  ${byFile ? 'file' : 'function  (file:line)'}`,
  ];
  const ranked = [...totals.values()].sort((a, b) => b.us - a.us).slice(0, top);
  for (const entry of ranked) {
    lines.push(
      `  ${ms(entry.us).padStart(9)} ${pct(entry.us, busy).padStart(7)}  ${entry.label}${entry.where ? `  (${entry.where})` : ''}`,
    );
  }
  if (callersOf !== undefined) lines.push(...callers(profile, selfUs, callersOf, busy));
  return lines.join('\n');
}

/** A short place: project files relative to the repo, packages by name, node internals as they are. */
function location({ url, lineNumber }: CallFrame): string {
  if (url === '') return '';
  let where = url.startsWith(ROOT) ? url.slice(ROOT.length) : url;
  where = where.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+)\//, '$1:');
  return `${where}:${lineNumber + 1}`;
}

/** Which thread the profile is from, told by the project files it ran. */
function threadRole(profile: Profile): string {
  const urls = new Set(profile.nodes.map((node) => node.callFrame.url));
  const ran = (file: string) => [...urls].some((url) => url.endsWith(file));
  if (ran('store-worker.ts')) return 'store worker';
  if (ran('session-worker.ts')) return 'session worker';
  if (ran('raw-sink-worker.ts')) return 'raw sink worker';
  if (ran('lottery-server.ts') || ran('supervisor.ts')) return 'server main thread (supervisor, acceptor, lottery)';
  if (ran('lottery-agency.ts')) return 'lottery-agency';
  if (ran('bench.ts')) return 'bench (load agencies)';
  return 'unknown thread';
}

/** The self time of function `name`, by the three frames that called it. */
function callers(profile: Profile, selfUs: Map<number, number>, name: string, busy: number): string[] {
  const parent = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node);
  const paths = new Map<string, number>();
  for (const node of profile.nodes) {
    if (node.callFrame.functionName !== name) continue;
    const chain: string[] = [];
    for (let up = parent.get(node.id); up !== undefined && chain.length < 3; up = parent.get(up.id)) {
      chain.push(`${up.callFrame.functionName || '(anonymous)'} ${location(up.callFrame)}`.trim());
    }
    const key = chain.join(' < ') || '(root)';
    paths.set(key, (paths.get(key) ?? 0) + (selfUs.get(node.id) ?? 0));
  }
  const lines = [`  callers of ${name}:`];
  for (const [path, us] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
    lines.push(`  ${(us / 1000).toFixed(1).padStart(9)} ${`${((100 * us) / busy).toFixed(1)}%`.padStart(7)}  < ${path}`);
  }
  return lines;
}
