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
  try {
    assertEquals(pool.pids.length, 2);
    const t = await pool.run({
      url: `http://127.0.0.1:${server.addr.port}/v1/chat/completions`,
      body: JSON.stringify({ model: "m", stream: true }),
      streams: 3,
      minEvents: 6,
      stallMs: 100,
      timeoutMs: 10_000,
    });
    assertEquals([t.streams, t.completed, t.events, t.ttft.count], [3, 3, 18, 3]);
  } finally {
    await pool.close();
    await server.shutdown();
  }
});
