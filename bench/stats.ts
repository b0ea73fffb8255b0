/** The p-quantile (0..1) of sorted values, nearest rank; 0 for none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank];
}

/** The middle value; the mean of the two middle ones for an even count. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export type LatencySummary = { p50: number; p99: number; p999: number; max: number };

/**
 * The quantiles of latencies given in several arrays (one per agency),
 * nearest rank. A p99.9 from fewer than 1,000 values is the maximum.
 */
export function latencySummary(parts: readonly ArrayLike<number>[]): LatencySummary {
  const count = parts.reduce((sum, part) => sum + part.length, 0);
  const all = new Float64Array(count);
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  all.sort();
  return { p50: percentile(all, 0.5), p99: percentile(all, 0.99), p999: percentile(all, 0.999), max: all.at(-1) ?? 0 };
}
