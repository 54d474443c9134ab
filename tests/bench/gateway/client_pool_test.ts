import { assertEquals } from "../../assert.ts";
import { cannedHandler } from "./canned_backend.ts";
import { ClientPool, split } from "./client_pool.ts";

Deno.test("split shares streams evenly and leaves no process empty", () => {
  assertEquals(split(1024, 2), [512, 512]);
  assertEquals(split(5, 2), [3, 2]);
  assertEquals(split(1, 4), [1]);
});

Deno.test("ClientPool runs streams across its processes and merges their tallies", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    cannedHandler({ model: "m", chunks: 3, delayMs: 5 }),
  );
  const pool = await ClientPool.start(2);
  const body = JSON.stringify({ model: "m", stream: true });
  try {
    assertEquals(pool.pids.length, 2);
    const t = await pool.run({
      url: `http://127.0.0.1:${server.addr.port}/v1/chat/completions`,
      body,
      streams: 3,
      minEvents: 6,
      stallMs: 100,
      timeoutMs: 10_000,
      arrivals: { count: 2, afterMs: 5, everyMs: 5, body, minEvents: 6 },
    });
    // The arrivals go out once, from one process, not once per process.
    assertEquals([t.streams, t.completed, t.events, t.ttft.count, t.arrivalTtft.count], [
      5,
      5,
      30,
      3,
      2,
    ]);
  } finally {
    await pool.close();
    await server.shutdown();
  }
});
