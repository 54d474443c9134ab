import { assertEquals } from "../../tests/assert.ts";
import { newRpcLock, withRpcLock } from "./rpc_lock.ts";

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
