import { assertEquals } from "../tests/assert.ts";
import {
  formatAgo,
  formatBytes,
  formatMs,
  formatNumber,
  formatPercent,
  formatRate,
  formatSeconds,
} from "./format.ts";

Deno.test("formatBytes uses binary units", () => {
  assertEquals(formatBytes(0), "0 B");
  assertEquals(formatBytes(1023), "1023 B");
  assertEquals(formatBytes(1536), "1.5 KiB");
  assertEquals(formatBytes(400 * 1024 * 1024), "400.0 MiB");
  assertEquals(formatBytes(3 * 1024 ** 3), "3.0 GiB");
  assertEquals(formatBytes(-1), "-");
  assertEquals(formatRate(5.25 * 1024 * 1024), "5.3 MiB/s");
});

Deno.test("formatSeconds, formatMs and formatAgo pick a readable unit", () => {
  assertEquals(formatSeconds(0.274), "0.27 s");
  assertEquals(formatSeconds(12.46), "12.5 s");
  assertEquals(formatSeconds(185), "3m 05s");
  assertEquals(formatSeconds(3725), "1h 02m");
  assertEquals(formatMs(0.5), "0.50 ms");
  assertEquals(formatMs(12.34), "12.3 ms");
  assertEquals(formatMs(1240), "1.24 s");
  assertEquals(formatMs(null), "-");
  assertEquals(formatAgo(null, 10_000), "never");
  assertEquals(formatAgo(7_000, 10_000), "3s ago");
  assertEquals(formatAgo(0, 10_000), "never");
  assertEquals(formatAgo(10_000 - 5 * 60_000, 10_000), "5m ago");
});

Deno.test("formatPercent floors and clamps; formatNumber shows null as a dash", () => {
  assertEquals(formatPercent(0.456), "45%");
  assertEquals(formatPercent(1.2), "100%");
  assertEquals(formatPercent(-1), "0%");
  assertEquals(formatNumber(12.345), "12.3");
  assertEquals(formatNumber(null), "-");
});
