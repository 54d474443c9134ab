import { assert, assertEquals } from "../tests/assert.ts";
import { SwapQueue } from "./swap_queue.ts";

Deno.test("swap queue: positions by arrival, leaving removes and wakes", async () => {
  const q = new SwapQueue({ maxWaitMs: 60_000, maxBatch: 10 });
  const s1 = new AbortController().signal;
  const s2 = new AbortController().signal;
  const w1 = q.join("b", 0, s1);
  const w2 = q.join("b", 0, s2);
  assertEquals(q.positionOf(s2), { model: "b", position: 2 });
  assertEquals(q.lengths(), new Map([["b", 2]]));
  const woke = q.changed(60_000);
  q.leave(w1);
  await woke;
  assertEquals(q.positionOf(s2), { model: "b", position: 1 });
  assertEquals(q.positionOf(s1), null);
  q.leave(w2);
  assertEquals(q.size, 0);
});

Deno.test("swap queue: a claimed resident admits a batch, then closes; the claim ends with its waiters", () => {
  const q = new SwapQueue({ maxWaitMs: 60_000, maxBatch: 2 });
  assert(q.admit("n", "a"));
  const w = q.join("b", 0);
  q.claim("n", "a", 0, w);
  assert(q.admit("n", "a"));
  assert(q.admit("n", "a"));
  assert(!q.isClosed("n", "x"));
  assert(q.isClosed("n", "a"));
  assert(!q.admit("n", "a"));
  q.leave(w);
  assert(q.admit("n", "a"), "open again once nobody waits for its room");
});

Deno.test("swap queue: max_wait closes the resident; a higher-priority claimant closes it at once", () => {
  const q = new SwapQueue({ maxWaitMs: 0, maxBatch: 100 });
  const w = q.join("b", 0);
  q.claim("n", "a", 0, w);
  assert(!q.admit("n", "a"));
  const q2 = new SwapQueue({ maxWaitMs: 60_000, maxBatch: 100 });
  const hi = q2.join("vip", 5);
  q2.claim("n", "a", 1, hi);
  assert(!q2.admit("n", "a"));
  q2.release("n", "a");
  assert(q2.admit("n", "a"));
});

Deno.test("swap queue: waiters take a room by priority, then by their oldest request", () => {
  const q = new SwapQueue({ maxWaitMs: 1, maxBatch: 1 });
  q.join("first", 0);
  q.join("second", 0);
  q.setRoom("first", "n/CPU");
  q.setRoom("second", "n/CPU");
  assert(q.behindOther("second", 0, "n/CPU"));
  assert(!q.behindOther("first", 0, "n/CPU"));
  assert(!q.behindOther("second", 0, "m/GPU0"), "another room is no queue");
  assert(!q.behindOther("vip", 5, "n/CPU"), "a higher priority goes first");
  assert(q.behindOther("newcomer", 0, "n/CPU"), "one without waiters ranks as arriving now");
});

Deno.test("swap queue: changed() resolves on notify or timeout, rejects on abort", async () => {
  const q = new SwapQueue({ maxWaitMs: 1, maxBatch: 1 });
  const t0 = performance.now();
  await q.changed(20);
  assert(performance.now() - t0 >= 15);
  const ac = new AbortController();
  const p = q.changed(60_000, ac.signal);
  ac.abort(new Error("gone"));
  let err: unknown;
  await p.catch((e) => err = e);
  assertEquals((err as Error).message, "gone");
});
