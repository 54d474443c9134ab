import { assert, assertEquals } from "../../assert.ts";
import { fmt, Histogram, median, percentile, ratio } from "./stats.ts";

Deno.test("percentile takes the nearest rank of unsorted samples", () => {
  const s = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
  assertEquals(percentile(s, 50), 5);
  assertEquals(percentile(s, 99), 10);
  assertEquals(percentile(s, 0), 1);
  assertEquals(percentile([], 50), NaN);
});

Deno.test("median skips missing figures and averages the middle pair", () => {
  assertEquals(median([3, 1, 2]), 2);
  assertEquals(median([4, 1, NaN, 2, 3]), 2.5);
  assertEquals(median([NaN]), NaN);
});

Deno.test("ratio and fmt mark missing values", () => {
  assertEquals(ratio(1, 4), 0.25);
  assertEquals(ratio(1, 0), NaN);
  assertEquals(fmt(NaN), "–");
  assertEquals(fmt(1.234, 1), "1.2");
});

Deno.test("Histogram percentiles stay within a bucket (2 %) of the exact ones, max exact", () => {
  const h = new Histogram();
  const samples = Array.from({ length: 1000 }, (_, i) => 0.05 + i * 0.37);
  for (const s of samples) h.add(s);
  for (const p of [50, 90, 99]) {
    const exact = percentile(samples, p);
    const got = h.percentile(p);
    assert(got >= exact && got <= exact * 1.021, `p${p}: ${got} vs ${exact}`);
  }
  assertEquals(h.max, samples.at(-1));
  assertEquals(h.percentile(100), h.max);
  assertEquals(h.count, 1000);
});

Deno.test("Histogram: zero gaps, huge values, empty, merge and JSON round trip", () => {
  const h = new Histogram();
  assertEquals(h.percentile(50), NaN);
  h.add(0);
  h.add(0);
  h.add(5e9);
  assertEquals(h.percentile(50), 0);
  assertEquals(h.percentile(99), 5e9);
  const other = new Histogram();
  other.add(20);
  const merged = Histogram.fromJSON(JSON.parse(JSON.stringify(h))).merge(other);
  assertEquals(merged.count, 4);
  assertEquals(merged.max, 5e9);
  assert(merged.percentile(75) >= 20 && merged.percentile(75) <= 20.4);
  assertEquals(new Histogram().merge(other).max, 20);
  assertEquals(other.merge(new Histogram()).max, 20);
});
