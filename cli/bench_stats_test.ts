import { assertEquals } from "../tests/assert.ts";
import { distribution, percentile } from "./bench_stats.ts";

Deno.test("percentile interpolates between ranks like numpy", () => {
  const xs = [1, 2, 3, 4];
  assertEquals(percentile(xs, 50), 2.5);
  // numpy.percentile([1,2,3,4], 95) == 3.85
  assertEquals(Math.round(percentile(xs, 95)! * 1e9) / 1e9, 3.85);
  assertEquals(percentile(xs, 0), 1);
  assertEquals(percentile(xs, 100), 4);
  assertEquals(percentile([7], 99), 7);
  assertEquals(percentile([], 50), null);
});

Deno.test("distribution sorts, ignores non-finite values and reports the count", () => {
  const d = distribution([30, 10, NaN, 20, Infinity]);
  assertEquals(d.count, 3);
  assertEquals(d.p50, 20);
  assertEquals(d.mean, 20);
  assertEquals(d.max, 30);
  const empty = distribution([]);
  assertEquals([empty.p50, empty.p95, empty.p99, empty.mean, empty.max], [
    null,
    null,
    null,
    null,
    null,
  ]);
});
