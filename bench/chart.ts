// Draws bets/s against the number of agencies as a plain SVG, from the JSON
// lines `npm run bench -- ... --json` prints (other lines, such as npm's
// banner, are skipped). One mark per result, never joined by lines: between
// two agency counts nothing was measured, and a line would suggest a curve
// (an optimum exactly at a measured count). The raw sink's limit is marked
// beside each count when the results carry it. Both axes are logarithmic:
// agency counts span 1 to 10,000s, and the limit can be ten times the
// server's figure. The machine the results come from is named under the title.
//   node bench/chart.ts [--out FILE] [--title TEXT] [--machine TEXT] [--hide-limit] [RESULTS.jsonl...]   (stdin if no file)
import { readFile, writeFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';

const SERIES_COLORS = ['#1f6feb', '#d9480f', '#2f9e44', '#7048e8'];

type Result = {
  agencies: number;
  betsPerSecond: number;
  limitBetsPerSecond?: number;
  fsync?: string;
  bets?: number;
  cpus?: number;
  node?: string;
};

const { values, positionals } = parseArgs({
  options: {
    out: { type: 'string' },
    title: { type: 'string' },
    machine: { type: 'string' },
    'hide-limit': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
if (values.help) {
  console.log(
    'Usage: node bench/chart.ts [--out FILE.svg] [--title TEXT] [--machine TEXT] [--hide-limit] [RESULTS.jsonl...]  (reads stdin without files)\n' +
      '--machine names the machine under the title (default: the cores and Node version in the results).\n--hide-limit leaves out the raw sink marks.',
  );
  process.exit(0);
}

const input =
  positionals.length > 0 ? (await Promise.all(positionals.map((file) => readFile(file, 'utf8')))).join('\n') : await text(process.stdin);
const results = parseResults(input).map((r) => (values['hide-limit'] ? { ...r, limitBetsPerSecond: undefined } : r));
if (results.length === 0) {
  console.error('chart: no JSON result lines with agencies and betsPerSecond');
  process.exit(1);
}
const svg = renderChart(results, values.title ?? defaultTitle(results), values.machine ?? defaultMachine(results));
if (values.out === undefined) process.stdout.write(svg);
else await writeFile(values.out, svg);

export function parseResults(input: string): Result[] {
  const results: Result[] = [];
  for (const line of input.split('\n')) {
    if (!line.trimStart().startsWith('{')) continue;
    const value = JSON.parse(line) as Partial<Result>;
    if (typeof value.agencies === 'number' && typeof value.betsPerSecond === 'number') results.push(value as Result);
  }
  return results.sort((a, b) => a.agencies - b.agencies);
}

function defaultTitle(results: Result[]): string {
  const fsync = [...new Set(results.map((r) => r.fsync).filter(Boolean))].join('/');
  const bets = [...new Set(results.map((r) => r.bets).filter(Boolean))];
  return `lottery-server: bets/s by agencies${bets.length === 1 ? `, ${bets[0]!.toLocaleString('en-US')} bets` : ''}${fsync ? `, fsync ${fsync}` : ''}`;
}

function defaultMachine(results: Result[]): string {
  const cpus = [...new Set(results.map((r) => r.cpus).filter(Boolean))];
  const node = [...new Set(results.map((r) => r.node).filter(Boolean))];
  return `measured on ${cpus.length === 1 ? `${cpus[0]} cores` : 'an unnamed machine'}${node.length === 1 ? `, Node ${node[0]}` : ''}; load generator and server on the same machine`;
}

export function renderChart(results: Result[], title: string, machine: string): string {
  const width = 720;
  const height = 420;
  const pad = { left: 70, right: 30, top: 56, bottom: 60 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const ks = results.map((r) => r.agencies);
  // The raw sink does not depend on fsync: one point per agency count, the mean of its runs.
  const limitRuns = new Map<number, number[]>();
  for (const r of results)
    if (typeof r.limitBetsPerSecond === 'number') limitRuns.set(r.agencies, [...(limitRuns.get(r.agencies) ?? []), r.limitBetsPerSecond]);
  const limits = [...limitRuns].map(([agencies, runs]) => ({
    agencies,
    limitBetsPerSecond: runs.reduce((a, b) => a + b, 0) / runs.length,
  }));
  const values = [...results.map((r) => r.betsPerSecond), ...limits.map((r) => r.limitBetsPerSecond)];
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const xMin = Math.log10(Math.min(...ks));
  const xMax = Math.max(Math.log10(Math.max(...ks)), xMin + 1);
  // A little room at both ends, so that the first and last marks are not on the axes.
  const x = (k: number) => pad.left + 20 + ((Math.log10(k) - xMin) / (xMax - xMin)) * (plotW - 40);
  const y = (v: number) => pad.top + plotH - ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escape(title)}</text>`);
  parts.push(`<text x="${width / 2}" y="40" text-anchor="middle" fill="#555">${escape(machine)}</text>`);
  // Grid and y labels: 1, 2 and 5 of each power of ten.
  for (let power = yMin; power < yMax * 10; power *= 10) {
    for (const step of [1, 2, 5]) {
      const v = power * step;
      if (v > yMax) break;
      parts.push(`<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="${step === 1 ? '#ccc' : '#eee'}"/>`);
      parts.push(`<text x="${pad.left - 8}" y="${y(v) + 4}" text-anchor="end">${compact(v)}</text>`);
    }
  }
  // x ticks at every agency count measured.
  for (const k of new Set(ks)) {
    parts.push(`<line x1="${x(k)}" x2="${x(k)}" y1="${pad.top + plotH}" y2="${pad.top + plotH + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x(k)}" y="${pad.top + plotH + 20}" text-anchor="middle">${k.toLocaleString('en-US')}</text>`);
  }
  parts.push(`<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${pad.top + plotH}" y2="${pad.top + plotH}" stroke="#333"/>`);
  parts.push(`<line x1="${pad.left}" x2="${pad.left}" y1="${pad.top}" y2="${pad.top + plotH}" stroke="#333"/>`);
  parts.push(`<text x="${pad.left + plotW / 2}" y="${height - 15}" text-anchor="middle">agencies (log scale)</text>`);
  parts.push(`<text transform="translate(18 ${pad.top + plotH / 2}) rotate(-90)" text-anchor="middle">bets per second (log scale)</text>`);
  const square = (cx: number, cy: number, fill: string, tip: string) =>
    `<rect x="${(cx - 4).toFixed(1)}" y="${(cy - 4).toFixed(1)}" width="8" height="8" fill="${fill}"><title>${escape(tip)}</title></rect>`;
  for (const r of limits) {
    parts.push(
      square(
        x(r.agencies),
        y(r.limitBetsPerSecond),
        '#999',
        `${r.agencies} agencies: raw sink ${Math.round(r.limitBetsPerSecond).toLocaleString('en-US')} bets/s`,
      ),
    );
  }
  // One colour per fsync setting; the marks of a setting stand apart, as measured.
  const series = [...new Set(results.map((r) => r.fsync ?? ''))].map((fsync, i) => ({
    label: fsync === '' ? 'lottery-server' : `lottery-server, fsync ${fsync}`,
    color: SERIES_COLORS[i % SERIES_COLORS.length],
    points: results.filter((r) => (r.fsync ?? '') === fsync),
  }));
  for (const { color, points } of series) {
    for (const r of points) {
      parts.push(
        `<circle cx="${x(r.agencies)}" cy="${y(r.betsPerSecond)}" r="5" fill="${color}"><title>${r.agencies} agencies${r.fsync ? `, fsync ${r.fsync}` : ''}: ${r.betsPerSecond.toLocaleString('en-US')} bets/s</title></circle>`,
      );
    }
  }
  // Legend, top left: the axis goes up to the next power of ten, above every mark.
  const lx = pad.left + 12;
  const legend = [
    ...series.map(({ label, color }) => ({ label, mark: `<circle cx="${lx + 6}" cy="{y}" r="5" fill="${color}"/>` })),
    ...(limits.length > 0
      ? [
          {
            label: 'raw sink: the most this machine and load generator move',
            mark: `<rect x="${lx + 2}" y="{y-4}" width="8" height="8" fill="#999"/>`,
          },
        ]
      : []),
  ];
  legend.forEach(({ label, mark }, i) => {
    const ly = pad.top + 12 + 18 * i;
    parts.push(`<rect x="${lx - 6}" y="${ly - 10}" width="306" height="18" fill="white" fill-opacity="0.85"/>`);
    parts.push(mark.replace('{y-4}', String(ly - 4)).replace('{y}', String(ly)));
    parts.push(`<text x="${lx + 18}" y="${ly + 4}">${escape(label)}</text>`);
  });
  parts.push('</svg>\n');
  return parts.join('\n');
}

/** 400k, 1.5M: short enough for the axis. */
function compact(value: number): string {
  if (value >= 1e6) return `${+(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
  return String(value);
}

function escape(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
