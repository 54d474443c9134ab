/**
 * Conversation affinity through the gateway: two neurons hold the same model; a turn of a
 * conversation goes back to the neuron that served its last turn (where its prefix is
 * cached) even when the other is less loaded, while a new conversation goes to the less
 * loaded one. Stand-in neurons record who served what.
 */

import { assertEquals } from "../assert.ts";
import { gatewayOver, serveStandIn } from "../helpers/stand_in_neuron.ts";

const a = serveStandIn({ model: "m" });
const b = serveStandIn({ model: "m" });
const gw = await gatewayOver({ a, b }, { gateway: `poll_interval = "200ms"` });

/** Which stand-in served the next request. */
async function servedBy(headers: Record<string, string>, hold = false) {
  const before = [a.seen.length, b.seen.length];
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({
      model: "m",
      messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi" }],
      stream: true,
    }),
  });
  const reader = res.body!.getReader();
  await reader.read(); // the neuron has the request
  const who = a.seen.length > before[0] ? "a" : b.seen.length > before[1] ? "b" : "none";
  if (hold) return { who, release: () => reader.cancel() };
  while (!(await reader.read()).done) { /* to the end */ }
  return { who, release: () => Promise.resolve() };
}

Deno.test("affinity: a conversation's next turn returns to its neuron, a new one goes to the idler", async () => {
  const first = await servedBy({ "x-claude-code-session-id": "conv-1" });
  // Keep that neuron busy with another conversation's open stream.
  const busy = await servedBy(
    { "x-stand-in": "silent", "x-claude-code-session-id": "other" },
    true,
  );
  try {
    assertEquals(busy.who, first.who, "both idle: the first holder took it");
    const next = await servedBy({ "x-claude-code-session-id": "conv-1" });
    assertEquals(next.who, first.who, "the next turn went where its cache is");
    const fresh = await servedBy({ "x-claude-code-session-id": "conv-2" });
    assertEquals(fresh.who === first.who, false, "a new conversation went to the idle neuron");
    // Without a session header the conversation's head names it: same head, same neuron.
    const again = await servedBy({});
    const repeat = await servedBy({});
    assertEquals(repeat.who, again.who);
  } finally {
    await busy.release();
  }
});

Deno.test("affinity: stop", async () => {
  await gw.shutdown(1000);
  await a.close();
  await b.close();
});
