// Draws bets/s against the number of agencies as a plain SVG, from the JSON
// lines `npm run bench -- ... --json` prints (other lines, such as npm's
// banner, are skipped). One point per line; the server's figure as a line,
// the raw sink's limit as a dashed line when the results carry it. The
// x axis is logarithmic, as agency counts usually span 1 to 1000s.
//   node bench/chart.ts [--out FILE] [--title TEXT] [--hide-limit] [RESULTS.jsonl...]   (stdin if no file)
import { readFile, writeFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';

const SERIES_COLORS = ['#1f6feb', '#d9480f', '#2f9e44', '#7048e8'];

type Result = { agencies: number; betsPerSecond: number; limitBetsPerSecond?: number; fsync?: string; bets?: number };

const { values, positionals } = parseArgs({
  options: { out: { type: 'string' }, title: { type: 'string' }, 'hide-limit': { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
  allowPositionals: true,
});
if (values.help) {
  console.log('Usage: node bench/chart.ts [--out FILE.svg] [--title TEXT] [--hide-limit] [RESULTS.jsonl...]  (reads stdin without files)\n--hide-limit leaves out the raw sink line, when it would flatten the server\'s.');
  process.exit(0);
}

const input = positionals.length > 0 ? (await Promise.all(positionals.map((file) => readFile(file, 'utf8')))).join('\n') : await text(process.stdin);
const results = parseResults(input).map((r) => (values['hide-limit'] ? { ...r, limitBetsPerSecond: undefined } : r));
if (results.length === 0) {
  console.error('chart: no JSON result lines with agencies and betsPerSecond');
  process.exit(1);
}
const svg = renderChart(results, values.title ?? defaultTitle(results));
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

export function renderChart(results: Result[], title: string): string {
  const width = 720;
  const height = 420;
  const pad = { left: 70, right: 30, top: 50, bottom: 60 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const ks = results.map((r) => r.agencies);
  // The raw sink does not depend on fsync: one point per agency count, the mean of its runs.
  const limitRuns = new Map<number, number[]>();
  for (const r of results) if (typeof r.limitBetsPerSecond === 'number') limitRuns.set(r.agencies, [...(limitRuns.get(r.agencies) ?? []), r.limitBetsPerSecond]);
  const limits = [...limitRuns].map(([agencies, runs]) => ({ agencies, limitBetsPerSecond: runs.reduce((a, b) => a + b, 0) / runs.length }));
  const yMax = niceCeiling(Math.max(...results.map((r) => r.betsPerSecond), ...limits.map((r) => r.limitBetsPerSecond!)));
  const xMin = Math.log10(Math.min(...ks));
  const xMax = Math.max(Math.log10(Math.max(...ks)), xMin + 1);
  const x = (k: number) => pad.left + ((Math.log10(k) - xMin) / (xMax - xMin)) * plotW;
  const y = (v: number) => pad.top + plotH - (v / yMax) * plotH;
  const path = (points: Array<[number, number]>) => points.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="15">${escape(title)}</text>`);
  // Grid and y labels.
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    parts.push(`<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${pad.left - 8}" y="${y(v) + 4}" text-anchor="end">${compact(v)}</text>`);
  }
  // x ticks at every agency count measured.
  for (const k of new Set(ks)) {
    parts.push(`<line x1="${x(k)}" x2="${x(k)}" y1="${pad.top + plotH}" y2="${pad.top + plotH + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x(k)}" y="${pad.top + plotH + 20}" text-anchor="middle">${k}</text>`);
  }
  parts.push(`<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${pad.top + plotH}" y2="${pad.top + plotH}" stroke="#333"/>`);
  parts.push(`<line x1="${pad.left}" x2="${pad.left}" y1="${pad.top}" y2="${pad.top + plotH}" stroke="#333"/>`);
  parts.push(`<text x="${pad.left + plotW / 2}" y="${height - 15}" text-anchor="middle">agencies (log scale)</text>`);
  parts.push(`<text transform="translate(20 ${pad.top + plotH / 2}) rotate(-90)" text-anchor="middle">bets per second</text>`);
  if (limits.length > 0) {
    parts.push(`<path d="${path(limits.map((r) => [x(r.agencies), y(r.limitBetsPerSecond!)]))}" fill="none" stroke="#999" stroke-width="2" stroke-dasharray="6 4"/>`);
    for (const r of limits) parts.push(`<circle cx="${x(r.agencies)}" cy="${y(r.limitBetsPerSecond!)}" r="3" fill="#999"/>`);
  }
  // One server line per fsync setting, so that on and off are not joined into one zigzag.
  const series = [...new Set(results.map((r) => r.fsync ?? ''))].map((fsync, i) => ({
    label: fsync === '' ? 'lottery-server' : `lottery-server, fsync ${fsync}`,
    color: SERIES_COLORS[i % SERIES_COLORS.length],
    points: results.filter((r) => (r.fsync ?? '') === fsync),
  }));
  for (const { color, points } of series) {
    parts.push(`<path d="${path(points.map((r) => [x(r.agencies), y(r.betsPerSecond)]))}" fill="none" stroke="${color}" stroke-width="2.5"/>`);
    for (const r of points) {
      parts.push(`<circle cx="${x(r.agencies)}" cy="${y(r.betsPerSecond)}" r="4" fill="${color}"><title>${r.agencies} agencies${r.fsync ? `, fsync ${r.fsync}` : ''}: ${r.betsPerSecond.toLocaleString('en-US')} bets/s</title></circle>`);
    }
  }
  // Legend, top left: at one agency the lines run low.
  const lx = pad.left + 12;
  const legend = [...series.map(({ label, color }) => ({ label, color, dash: '' })), ...(limits.length > 0 ? [{ label: 'raw sink (limit of machine and load generator)', color: '#999', dash: ' stroke-dasharray="6 4"' }] : [])];
  legend.forEach(({ label, color, dash }, i) => {
    const ly = pad.top + 10 + 18 * i;
    parts.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2.5"${dash}/><text x="${lx + 30}" y="${ly + 4}">${escape(label)}</text>`);
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

/** 1, 2 or 5 times a power of ten, at or above `value`. */
function niceCeiling(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function escape(value: string): string {
  return value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
