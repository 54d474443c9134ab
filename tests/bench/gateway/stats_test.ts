import { assertEquals } from "../../assert.ts";
import { fmt, median, percentile, ratio } from "./stats.ts";

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
