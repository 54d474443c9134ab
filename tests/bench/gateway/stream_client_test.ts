import { assert, assertEquals } from "../../assert.ts";
import { cannedHandler } from "./canned_backend.ts";
import { Histogram } from "./stats.ts";
import {
  emptyTally,
  mergeTallies,
  runStreams,
  type StreamSpec,
  tallyFromJson,
  tallyToJson,
} from "./stream_client.ts";

const body = JSON.stringify({ model: "m", stream: true });
const spec = (url: string, over: Partial<StreamSpec> = {}): StreamSpec => ({
  url,
  body,
  streams: 3,
  minEvents: 4 + 3,
  stallMs: 100,
  timeoutMs: 10_000,
  ...over,
});

async function withServer(
  handler: Deno.ServeHandler,
  test: (url: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  try {
    await test(`http://127.0.0.1:${server.addr.port}/v1/chat/completions`);
  } finally {
    await server.shutdown();
  }
}

Deno.test("runStreams opens the streams together and times every event", async () => {
  await withServer(cannedHandler({ model: "m", chunks: 4, delayMs: 20 }), async (url) => {
    const t = await runStreams(spec(url));
    assertEquals([t.streams, t.completed, t.failures], [3, 3, {}]);
    assertEquals(t.events, 3 * (1 + 4 + 1 + 1)); // role, 4 content, finish, [DONE]
    assertEquals([t.ttft.count, t.connect.count, t.gaps.count], [3, 3, 3 * 6]);
    // Content events come one tick apart: the largest gaps are about 20 ms.
    assert(t.gaps.max >= 15 && t.gaps.max < 100, `gap max ${t.gaps.max}`);
    assertEquals(t.stalls, 0);
  });
});

Deno.test("runStreams sends arrivals one by one while the burst is open, timed apart", async () => {
  await withServer(cannedHandler({ model: "m", chunks: 10, delayMs: 20 }), async (url) => {
    const started = performance.now();
    const t = await runStreams(spec(url, {
      streams: 2,
      minEvents: 10 + 3,
      arrivals: {
        count: 3,
        afterMs: 50,
        everyMs: 30,
        body: JSON.stringify({ model: "m", stream: true, max_tokens: 2 }),
        minEvents: 2 + 3,
      },
    }));
    assertEquals([t.streams, t.completed, t.failures], [5, 5, {}]);
    assertEquals([t.ttft.count, t.arrivalTtft.count], [2, 3]);
    assertEquals(t.events, 2 * (10 + 3) + 3 * (2 + 3));
    // The last arrival left 50 + 2 × 30 ms after the burst, while the burst's 200 ms ran.
    const took = performance.now() - started;
    assert(took >= 110 + 20 && took < 1_000, `took ${took} ms`);
  });
});

Deno.test("runStreams counts error statuses, short streams and stalls as such", async () => {
  await withServer(cannedHandler({ model: "m", chunks: 4, delayMs: 0 }), async (url) => {
    const wrong = await runStreams({ ...spec(url), body: JSON.stringify({ model: "x" }) });
    assertEquals([wrong.completed, wrong.failures], [0, { "status 404": 3 }]);
    const short = await runStreams(spec(url, { minEvents: 50 }));
    assertEquals([short.completed, short.failures], [0, { "cut short": 3 }]);
  });
  await withServer(cannedHandler({ model: "m", chunks: 2, delayMs: 120 }), async (url) => {
    const slow = await runStreams(spec(url, { streams: 1, minEvents: 5 }));
    assertEquals([slow.completed, slow.stalls], [1, 1]);
  });
});

Deno.test("runStreams cuts streams at the timeout and fails unreachable ones", async () => {
  await withServer(cannedHandler({ model: "m", chunks: 100, delayMs: 20 }), async (url) => {
    const t = await runStreams(spec(url, { streams: 2, timeoutMs: 100 }));
    assertEquals([t.completed, t.failures], [0, { timeout: 2 }]);
  });
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const gone = await runStreams(spec(`http://127.0.0.1:${port}/`, { streams: 2 }));
  assertEquals(gone.failures, { connect: 2 });
});

Deno.test("tallies merge and survive JSON", () => {
  const a = emptyTally();
  a.streams = 2;
  a.completed = 1;
  a.failures = { "cut short": 1 };
  a.events = 10;
  a.gaps.add(20);
  const b = tallyFromJson(tallyToJson(a));
  assert(b.gaps instanceof Histogram);
  const m = mergeTallies([a, b]);
  assertEquals([m.streams, m.completed, m.failures, m.events, m.gaps.count, m.gaps.max], [
    4,
    2,
    { "cut short": 2 },
    20,
    2,
    20,
  ]);
});
