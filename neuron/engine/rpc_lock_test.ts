import { assertEquals } from "../../tests/assert.ts";
import { markRpcLost, newRpcLock, withRpcLock } from "./rpc_lock.ts";

Deno.test("withRpcLock: one holder at a time; the next runs once it lets go, even after a throw", async () => {
  const lock = new Int32Array(newRpcLock());
  const log: string[] = [];
  const hold = (name: string, fail = false) =>
    withRpcLock(lock, async () => {
      log.push(`${name} in`);
      await new Promise((r) => setTimeout(r, 5));
      log.push(`${name} out`);
      if (fail) throw new Error(name);
    });
  const results = await Promise.allSettled([hold("a", true), hold("b"), hold("c")]);
  assertEquals(results.map((r) => r.status), ["rejected", "fulfilled", "fulfilled"]);
  assertEquals(log, ["a in", "a out", "b in", "b out", "c in", "c out"]);
  assertEquals(Atomics.load(lock, 0), 0);
});

Deno.test("withRpcLock: once an RPC server is lost, a waiter parks instead of polling", async () => {
  const lock = new Int32Array(newRpcLock());
  Atomics.store(lock, 0, 1); // held by a decode parked in the lost server
  markRpcLost(lock);
  let ran = false;
  const waiter = withRpcLock(lock, () => {
    ran = true;
    return Promise.resolve();
  });
  // Parked: it never settles and runs nothing, and it holds no timer (the test's op sanitizer
  // would report a pending timer).
  const settled = await Promise.race([
    waiter.then(() => "settled"),
    new Promise((r) => setTimeout(() => r("parked"), 20)),
  ]);
  assertEquals(settled, "parked");
  assertEquals(ran, false);
});
