/** Summary statistics for `cortex bench`: percentiles by linear interpolation (numpy's default). */

export interface Distribution {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  mean: number | null;
  max: number | null;
  /** How many values the figures are drawn from. */
  count: number;
}

/** The p-th percentile (0..100) of ascending `sorted`, interpolating between ranks. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (!sorted.length) return null;
  if (p <= 0) return sorted[0];
  if (p >= 100) return sorted[sorted.length - 1];
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const n = sorted.length;
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean: n ? sorted.reduce((a, b) => a + b, 0) / n : null,
    max: n ? sorted[n - 1] : null,
    count: n,
  };
}
