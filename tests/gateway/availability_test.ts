/**
 * Availability answers that tell the truth: a model served a moment ago whose
 * neuron went down is a 503 with Retry-After (not a 404), and a model no
 * device could ever hold is a permanent 400 naming the sizes (not a 503).
 */

import { assertEquals, assertMatch } from "../assert.ts";
import { fleetTests, user, waitFor } from "./harness.ts";

const { test, stop } = fleetTests({
  neurons: [
    { name: "keep", store: { plain: "plain" }, budgetMb: 15 },
    { name: "gone", store: { solo: "plain" }, budgetMb: 15 },
  ],
});

test("a model served a moment ago on a neuron now down: 503 with Retry-After, not 404", async (f) => {
  const r = await f.post("/v1/chat/completions", {
    model: "solo",
    messages: user("x"),
    max_tokens: 2,
  });
  assertEquals(r.status, 200);
  await f.neurons.gone.proc.kill();
  await waitFor("gone to be marked down", async () => {
    const s = await f.status();
    return s.neurons.find((n) => n.name === "gone")?.up === false;
  });
  const res = await f.fetch("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "solo", messages: user("x"), max_tokens: 2 }),
  });
  assertEquals(res.status, 503);
  assertMatch(res.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
  const err = (await res.json()).error;
  assertEquals(err.code, "model_unavailable");
  assertMatch(err.message, /down or restarting/);
  // Never served, never known: still a 404.
  const ghost = await f.post("/v1/chat/completions", { model: "never", messages: user("x") });
  assertEquals(ghost.status, 404);
});

stop();

// No poll between the neuron dying and the request: the request finds out by itself.
const unpolled = fleetTests({
  neurons: [{ name: "n", store: { solo: "plain" }, budgetMb: 15 }],
  gateway: { poll_interval: "1h", down_after: "1h" },
});

unpolled.test("the first request to a neuron that just died: 503 down or restarting, not 'pull it first'", async (f) => {
  const body = JSON.stringify({ model: "solo", messages: user("x"), max_tokens: 2 });
  const ask = () =>
    f.fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
  assertEquals((await (await ask()).json()).object, "chat.completion");
  await f.neurons.n.proc.kill();
  const res = await ask();
  assertEquals(res.status, 503);
  assertMatch(res.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
  const err = (await res.json()).error;
  assertEquals(err.code, "model_unavailable");
  assertMatch(err.message, /down or restarting/);
});

unpolled.stop();

const big = fleetTests({
  neurons: [{ name: "n", store: { plain: "plain" }, budgetMb: 15 }],
  models: `
[[models]]
id = "huge"
source = "plain.gguf"
vram_mb = 4000
`,
});

big.test("a model larger than every device's budget: a permanent 400 that names the sizes", async (f) => {
  for (const path of ["/v1/chat/completions", "/v1/messages"]) {
    const res = await f.fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "huge", messages: user("x"), max_tokens: 2 }),
    });
    assertEquals(res.status, 400, path);
    assertEquals(res.headers.get("retry-after"), null);
    const body = await res.json();
    const message: string = body.error.message;
    assertMatch(message, /needs 3\.91 GiB/);
    assertMatch(message, /budget 15\.0 MiB/);
    if (path !== "/v1/messages") assertEquals(body.error.code, "model_too_large");
  }
});

big.stop();
