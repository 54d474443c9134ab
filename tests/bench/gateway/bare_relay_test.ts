import { assertEquals } from "../../assert.ts";
import { bareRelay } from "./bare_relay.ts";
import { cannedHandler } from "./canned_backend.ts";

Deno.test("bare relay: a stream passes through byte for byte", async () => {
  const backend = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    cannedHandler({ model: "m", chunks: 3, delayMs: 1 }),
  );
  const relay = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    bareRelay(`http://127.0.0.1:${backend.addr.port}`),
  );
  try {
    const body = JSON.stringify({ model: "m", stream: true, messages: [] });
    const post = (port: number) =>
      fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", body })
        .then((r) => r.text());
    const direct = await post(backend.addr.port);
    const relayed = await post(relay.addr.port);
    assertEquals(relayed, direct);
    assertEquals(relayed.split("\n\n").length, 3 + 4); // role, 3 tokens, usage, [DONE], ""
  } finally {
    await relay.shutdown();
    await backend.shutdown();
  }
});
