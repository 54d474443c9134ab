import assert from "node:assert/strict";
import { formatDuration, MAX_DURATION_MS, parseDuration } from "./duration.ts";

Deno.test("parseDuration reads units and compounds to milliseconds", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("1m30s250ms"), 90_250);
  assert.equal(parseDuration("1.5s"), 1_500);
  assert.equal(parseDuration("2d"), 172_800_000);
  assert.equal(parseDuration(" 10s "), 10_000);
  assert.equal(parseDuration("0"), 0);
});

Deno.test("parseDuration reads bare numbers as seconds", () => {
  assert.equal(parseDuration(2), 2_000);
  assert.equal(parseDuration(0.25), 250);
  assert.equal(parseDuration(0), 0);
});

Deno.test("parseDuration rejects what is not a duration, saying why", () => {
  assert.throws(() => parseDuration("5x"), /unrecognised duration/);
  assert.throws(() => parseDuration("30"), /without a unit/);
  assert.throws(() => parseDuration(""), /empty/);
  assert.throws(() => parseDuration("1s1s"), /twice/);
  assert.throws(() => parseDuration("s"), /unrecognised/);
  assert.throws(() => parseDuration(-1), /negative/);
  assert.throws(() => parseDuration("-1s"), /unrecognised/);
  assert.throws(() => parseDuration(Infinity), /finite/);
  assert.throws(() => parseDuration(true), /not a string or number/);
  assert.throws(() => parseDuration("25d"), /24 days/);
  assert.equal(parseDuration(MAX_DURATION_MS / 1000), MAX_DURATION_MS);
});

Deno.test("formatDuration is the inverse of parseDuration for whole values", () => {
  for (const ms of [250, 30_000, 5_400_000, 90_250, 86_400_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
  assert.equal(formatDuration(5_400_000), "1h30m");
  assert.equal(formatDuration(0), "0s");
});
