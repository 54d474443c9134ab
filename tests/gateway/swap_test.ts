/**
 * The swap queue with a real neuron whose budget holds one tiny model: clients
 * streaming to two models at once all get their answers (no 503, no 404) with
 * swaps collated; a wait past queue_timeout is a 503 with Retry-After in each
 * dialect; a client that leaves the queue is gone from it; a higher priority
 * never waits behind a lower one's queue, and pinned models never swap.
 */

import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  ENDLESS,
  endlessStream,
  fleetTests,
  metricValue,
  type TestFleet,
  user,
  waitFor,
} from "./harness.ts";

/** One tiny model takes ~10 MB at context 512 × 2 slots: 15 MiB holds one, not two. */
const NEURON = { name: "n", store: { plain: "plain" as const }, budgetMb: 15 };

/** Text that never lets the model stop: generation runs to max_tokens. */

const TWO = `
[[models]]
id = "a"
source = "plain.gguf"

[[models]]
id = "b"
source = "plain.gguf"
`;

/**
 * Keeps `model` busy with a stream the caller ends: resolves once tokens
 * flow; `stop()` leaves it.
 */
async function hold(f: TestFleet, model: string): Promise<{ stop(): Promise<void> }> {
  const abort = new AbortController();
  const res = await f.fetch("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model,
      messages: user("keep going"),
      max_tokens: 100_000,
      stream: true,
      grammar: ENDLESS,
    }),
    signal: abort.signal,
  });
  assertEquals(res.status, 200);
  const reader = res.body!.getReader();
  await reader.read();
  // Keep reading so the neuron is never held back by a full pipe.
  const draining = (async () => {
    try {
      while (!(await reader.read()).done) { /* tokens */ }
    } catch { /* aborted */ }
  })();
  return {
    async stop() {
      abort.abort();
      await draining;
    },
  };
}

const swap = fleetTests({ neurons: [{ ...NEURON, context: 4096, slots: 2 }], models: TWO });

swap.test("room for one, clients streaming to a and b at once: every request completes, swaps collate", async (f) => {
  const c = f.openai();
  const CLIENTS = 6;
  const ROUNDS = 4;
  const results = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const out: { tokens: number; finish: string | null }[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        out.push(await endlessStream(c, (i + r) % 2 ? "a" : "b", 8));
      }
      return out;
    }),
  );
  for (const r of results.flat()) assertEquals(r, { tokens: 8, finish: "length" });
  const m = await f.metrics();
  const requests = CLIENTS * ROUNDS;
  assertEquals(metricValue(m, "cortex_requests_total", { status: "200" }), requests);
  assertEquals(metricValue(m, "cortex_request_errors_total"), 0);
  const swaps = metricValue(m, "cortex_swaps_total", { node: "n" });
  // Each client alternates: one swap per request without collation.
  assert(swaps >= 1 && swaps <= requests / 3, `${swaps} swaps for ${requests} requests`);
  assertEquals(metricValue(m, "cortex_evictions_total", { reason: "capacity" }), swaps);
  assert(metricValue(m, "cortex_queue_wait_seconds_count", { outcome: "served" }) > 0);
  assertEquals(metricValue(m, "cortex_queue_length"), 0);
});

swap.test("a streaming client sees its place in the queue; one that leaves is removed", async (f) => {
  const loaded = await f.loaded("n");
  const [resident, other] = loaded[0] === "a" ? ["a", "b"] : ["b", "a"];
  const h = await hold(f, resident);
  // A streamed request for the other model: committed to 200 with keepalive comments.
  const abort = new AbortController();
  const res = await f.fetch("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: other, messages: user("me next"), max_tokens: 2, stream: true }),
    signal: abort.signal,
  });
  assertEquals(res.status, 200);
  const reader = res.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assertEquals(first, `: queued for ${other}, position 1\n\n`);
  assertEquals(
    metricValue(await f.metrics(), "cortex_queue_length", { model: other }),
    1,
  );
  abort.abort();
  await reader.cancel().catch(() => {});
  await waitFor(
    "the queue to be empty",
    async () => metricValue(await f.metrics(), "cortex_queue_length", { model: other }) === 0,
  );
  const m = await f.metrics();
  assertEquals(
    metricValue(m, "cortex_queue_wait_seconds_count", { model: other, outcome: "failed" }),
    1,
  );
  await h.stop();
  // Nobody waits for it any more: the resident stays, nothing was swapped for the leaver.
  await new Promise((r) => setTimeout(r, 500));
  assertEquals(await f.loaded("n"), [resident]);
});

swap.stop();

const short = fleetTests({
  neurons: [{ ...NEURON, context: 4096, slots: 2 }],
  models: TWO,
  queue: `timeout = "1s"`,
});

short.test("queue_timeout: 503 with Retry-After in each dialect", async (f) => {
  await endlessStream(f.openai(), "a", 2);
  const h = await hold(f, "a");
  try {
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      f.fetch(path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    // All three wait at once: the resident must stay busy for one queue_timeout, not three (its
    // stream ends at the context limit, sooner the faster the llama.cpp build runs).
    const [openai, anthropic, responses] = await Promise.all([
      post("/v1/chat/completions", { model: "b", messages: user("x") }),
      post(
        "/v1/messages",
        { model: "b", max_tokens: 2, messages: user("x") },
        { "anthropic-version": "2023-06-01" },
      ),
      post("/v1/responses", { model: "b", input: "x" }),
    ]);
    assertEquals(openai.status, 503);
    assertMatch(openai.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    const oe = (await openai.json()).error;
    assertEquals(oe.type, "server_error");
    assertEquals(oe.code, "queue_timeout");
    assertMatch(oe.message, /queue_timeout/);

    // Anthropic's status for "overloaded" is 529.
    assertEquals(anthropic.status, 529);
    assertMatch(anthropic.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    const ab = await anthropic.json();
    assertEquals(ab.type, "error");
    assertEquals(ab.error.type, "overloaded_error");
    assertMatch(ab.error.message, /queue_timeout/);

    assertEquals(responses.status, 503);
    assertMatch(responses.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    assertEquals((await responses.json()).error.code, "queue_timeout");

    const m = await f.metrics();
    assertEquals(metricValue(m, "cortex_queue_timeouts_total", { model: "b" }), 3);
    assertEquals(metricValue(m, "cortex_queue_wait_seconds_count", { outcome: "timeout" }), 3);
    assertEquals(await f.loaded("n"), ["a"]);
  } finally {
    await h.stop();
  }
});

short.stop();

const ranks = fleetTests({
  neurons: [{ ...NEURON, context: 4096, slots: 2 }],
  models: `
[[models]]
id = "low"
source = "plain.gguf"
residency_priority = 1

[[models]]
id = "high"
source = "plain.gguf"
residency_priority = 5
`,
});

ranks.test("a higher priority never waits behind a lower one's queue; a lower one never displaces it", async (f) => {
  const c = f.openai();
  await endlessStream(c, "low", 2);
  const h = await hold(f, "low");
  const done: string[] = [];
  const ask = async (model: string) => {
    const r = await f.post("/v1/chat/completions", {
      model,
      messages: user("hi"),
      max_tokens: 2,
    });
    done.push(`${model} ${r.status}`);
    return r;
  };
  const high = ask("high");
  await waitFor(
    "high to queue",
    async () => metricValue(await f.metrics(), "cortex_queue_length", { model: "high" }) === 1,
  );
  // low is resident and could take this at once, but high claimed its room: it queues.
  const low = ask("low");
  await waitFor(
    "low to queue",
    async () => metricValue(await f.metrics(), "cortex_queue_length", { model: "low" }) === 1,
  );
  assertEquals(done, []);
  await h.stop();
  const [hr, lr] = await Promise.all([high, low]);
  // low was not served by its resident copy meanwhile: high took the room first.
  assertEquals(done.sort(), ["high 200", "low 503"]);
  assertEquals((hr.json.usage as { completion_tokens: number }).completion_tokens, 2);
  // Its turn came with high resident: low never displaces a higher priority, idle or not.
  assertMatch((lr.json.error as { message: string }).message, /higher residency_priority/);
  assertEquals(await f.loaded("n"), ["high"]);
});

ranks.stop();

const pinned = fleetTests({
  neurons: [{ ...NEURON, context: 4096, slots: 2 }],
  models: `
[[models]]
id = "kept"
source = "plain.gguf"
pinned = true

[[models]]
id = "other"
source = "plain.gguf"
`,
});

pinned.test("pinned never swaps: a request needing its room is refused, not queued", async (f) => {
  await endlessStream(f.openai(), "kept", 2);
  const r = await f.post("/v1/chat/completions", {
    model: "other",
    messages: user("x"),
    max_tokens: 2,
  });
  assertEquals(r.status, 503);
  assertMatch((r.json.error as { message: string }).message, /pinned/);
  assertEquals(metricValue(await f.metrics(), "cortex_queue_wait_seconds_count"), 0);
  assertEquals(await f.loaded("n"), ["kept"]);
});

pinned.stop();
