import { assert, assertEquals } from "../tests/assert.ts";
import { UsageTracker } from "./usage.ts";

Deno.test("usage: a reservation counts as in flight until begin takes it over, or the next task", async () => {
  const u = new UsageTracker();
  let ended = 0;
  u.onEnd(() => ended++);
  u.reserve("n", "a");
  assertEquals(u.inFlight("n", "a"), 1);
  const release = u.begin("n", "a");
  assertEquals(u.inFlight("n", "a"), 1);
  release();
  release();
  assertEquals(u.inFlight("n", "a"), 0);
  assertEquals(ended, 1);
  u.reserve("n", "b"); // an admin load: no begin follows
  assertEquals(u.inFlight("n", "b"), 1);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(u.inFlight("n", "b"), 0);
  assertEquals(ended, 2);
});

Deno.test("usage: a poll window records the gateway's peak per model on that neuron", () => {
  const u = new UsageTracker();
  const before = u.begin("n", "a");
  u.begin("m", "a");
  const w = u.pollWindow("n");
  const r1 = u.begin("n", "a");
  before();
  r1();
  u.begin("n", "b");
  const peaks = w.end();
  // A neuron reading taken mid-window may include up to 2 of the gateway's requests to a.
  assertEquals(peaks, new Map([["a", 2], ["b", 1]]));
  u.begin("n", "c");
  assert(!peaks.has("c"), "nothing recorded once the window ended");
});

Deno.test("usage: answered requests are remembered per neuron", () => {
  const u = new UsageTracker();
  assertEquals(u.lastAnswered("n"), 0);
  u.answered("n", 1234);
  assertEquals(u.lastAnswered("n"), 1234);
});

Deno.test("usage: total counts every request in flight, and each end once", () => {
  const u = new UsageTracker();
  const a = u.begin("n1", "m1");
  const b = u.begin("n2", "m2");
  assertEquals(u.total(), 2);
  a();
  a();
  assertEquals(u.total(), 1);
  b();
  assertEquals(u.total(), 0);
});

Deno.test("usage: a keep_alive holds for that resident until it is set again or forgotten", () => {
  const u = new UsageTracker();
  assertEquals(u.keepAlive("n", "a"), undefined);
  u.setKeepAlive("n", "a", 60_000);
  assertEquals([u.keepAlive("n", "a"), u.keepAlive("m", "a")], [60_000, undefined]);
  u.setKeepAlive("n", "a", Infinity);
  assertEquals(u.keepAlive("n", "a"), Infinity);
  u.forget("n", "a"); // unloaded: a later load starts from idle_ttl again
  assertEquals(u.keepAlive("n", "a"), undefined);
});
