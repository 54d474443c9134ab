/** Small statistics for the HTTP benches: percentiles of samples, medians across rounds. */

/** The p-th percentile (0–100) by nearest rank; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (!samples.length) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** The median of the finite values (rounds may miss a figure); NaN when none is finite. */
export function median(values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** `a / b`, NaN when either is missing or b is zero. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN;
}

/** A number for a table cell: `digits` decimals, "–" when missing. */
export function fmt(v: number, digits = 2): string {
  return Number.isFinite(v) ? v.toFixed(digits) : "–";
}

/**
 * Latencies in ms as log-spaced buckets (2 % wide, 10 µs to ~20 min): percentiles within 2 %
 * from a few hundred counters however many samples, so stream clients in other processes
 * can hand back 500,000 gaps as a short JSON array and the bench can merge them.
 */
export class Histogram {
  static readonly MIN_MS = 0.01;
  static readonly STEP = 1.02;
  static readonly BUCKETS = 1000;
  readonly counts = new Float64Array(Histogram.BUCKETS);
  count = 0;
  /** The largest sample, exact. */
  max = NaN;

  add(ms: number): void {
    const i = ms < Histogram.MIN_MS ? 0 : Math.min(
      Histogram.BUCKETS - 1,
      1 + Math.floor(Math.log(ms / Histogram.MIN_MS) / Math.log(Histogram.STEP)),
    );
    this.counts[i]++;
    this.count++;
    if (!(ms <= this.max)) this.max = ms;
  }

  merge(other: Histogram): this {
    for (let i = 0; i < other.counts.length; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
    if (!(other.max <= this.max)) this.max = Number.isNaN(other.max) ? this.max : other.max;
    return this;
  }

  /**
   * The p-th percentile (0–100) by nearest rank, as the upper edge of its bucket (0 for the
   * bucket under 10 µs, the max for the last one), never above the exact max; NaN when empty.
   */
  percentile(p: number): number {
    if (!this.count) return NaN;
    const rank = Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count)));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        if (i === 0) return 0;
        if (i === Histogram.BUCKETS - 1) return this.max; // the overflow bucket
        return Math.min(this.max, Histogram.MIN_MS * Histogram.STEP ** i);
      }
    }
    return this.max;
  }

  /** Sparse `[bucket, count]` pairs and the max: what a stream client process prints. */
  toJSON(): { buckets: [number, number][]; max: number | null } {
    const buckets: [number, number][] = [];
    this.counts.forEach((c, i) => c && buckets.push([i, c]));
    return { buckets, max: Number.isNaN(this.max) ? null : this.max };
  }

  static fromJSON(j: { buckets: [number, number][]; max: number | null }): Histogram {
    const h = new Histogram();
    for (const [i, c] of j.buckets) {
      h.counts[i] += c;
      h.count += c;
    }
    h.max = j.max ?? NaN;
    return h;
  }
}
