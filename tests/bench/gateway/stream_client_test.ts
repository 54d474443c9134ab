import { assert, assertEquals } from "../../assert.ts";
import { cannedHandler } from "./canned_backend.ts";
import { measureStreams, SseEventCounter } from "./stream_client.ts";

const enc = new TextEncoder();
const token = `data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n`;
const role = `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n`;

Deno.test("SseEventCounter counts token events split anywhere across chunks", () => {
  const text = role + token + token + ": usage {}\n\n" + token + "data: [DONE]\n\n";
  for (let cut = 1; cut < text.length; cut += 7) {
    const c = new SseEventCounter();
    const n = c.push(enc.encode(text.slice(0, cut))) + c.push(enc.encode(text.slice(cut)));
    assertEquals(n, 3, `cut at ${cut}`);
    assertEquals(c.done, true);
  }
});

Deno.test("SseEventCounter ignores the role event and waits for an event's end", () => {
  const c = new SseEventCounter();
  assertEquals(c.push(enc.encode(role)), 0);
  assertEquals(c.push(enc.encode(token.slice(0, -1))), 0);
  assertEquals(c.push(enc.encode("\n")), 1);
  assertEquals(c.done, false);
});

Deno.test("measureStreams times every token event of streams from a server", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    cannedHandler({ model: "m", chunks: 4, delayMs: 2 }),
  );
  try {
    const r = await measureStreams({
      url: `http://127.0.0.1:${server.addr.port}/v1/chat/completions`,
      body: JSON.stringify({ model: "m", stream: true }),
      clients: 2,
      seconds: 0.3,
    });
    assertEquals(r.errors, 0);
    assertEquals(r.tokensPerStream, 4);
    assert(r.streamsPerS > 0);
    assert(r.ttftP50Ms > 0 && r.ttftP99Ms >= r.ttftP50Ms);
    // Token events after the first come about delayMs apart.
    assert(r.gapP50Ms >= 1, `gap p50 ${r.gapP50Ms} ms`);
  } finally {
    await server.shutdown();
  }
});
