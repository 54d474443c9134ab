/**
 * Eviction with a real neuron whose CPU budget holds two tiny models: the
 * victim `lru` and `priority` choose for the same traffic, a model with a
 * stream in flight is never the victim (a request needing its room waits in
 * the queue), and the idle TTL unloads.
 *
 * min_residency is 0 here: the victim is chosen the moment the next request
 * arrives, usually before the poller has seen the previous request end. The
 * gateway must decide on its own in-flight counts, not the neuron's polled
 * ones (a stale polled in_flight once made `priority` evict "high").
 */

import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  ENDLESS,
  endlessStream,
  ext,
  fleetTests,
  metricValue,
  type NeuronSpec,
  type TestFleet,
  user,
  waitFor,
} from "./harness.ts";

/** Each tiny model takes ~10 MB at context 512 × 2 slots: 25 MiB holds two, not three. */
const NEURON: NeuronSpec = { name: "n", store: { plain: "plain" }, budgetMb: 25 };

const MODELS = `
[[models]]
id = "high"
source = "plain.gguf"
residency_priority = 5

[[models]]
id = "low"
source = "plain.gguf"
residency_priority = 1

[[models]]
id = "new"
source = "plain.gguf"
residency_priority = 5

[[models]]
id = "lowly"
source = "plain.gguf"
residency_priority = 0
`;

/** Text that never lets the model stop: generation runs to max_tokens. */

async function ask(f: TestFleet, model: string): Promise<void> {
  const r = await f.openai().chat.completions.create({
    model,
    messages: user("hi"),
    max_tokens: 2,
  });
  assertEquals(r.usage?.completion_tokens, 2);
}

/** high, then low (so low is the most recently used), then new, which needs room. */
async function highLowNew(f: TestFleet): Promise<void> {
  await ask(f, "high");
  await ask(f, "low");
  assertEquals(await f.loaded("n"), ["high", "low"]);
  await ask(f, "new");
}

const NO_HOLD = `min_residency = 0`;

const lru = fleetTests({
  neurons: [NEURON],
  models: MODELS,
  eviction: `strategy = "lru"`,
  queue: NO_HOLD,
});

lru.test("lru: the least recently used model makes room", async (f) => {
  await highLowNew(f);
  assertEquals(await f.loaded("n"), ["low", "new"]);
  const m = await f.metrics();
  assertEquals(
    metricValue(m, "cortex_evictions_total", { model: "high", node: "n", reason: "capacity" }),
    1,
  );
  assertEquals(metricValue(m, "cortex_evictions_total"), 1);
});

lru.test("a model with a stream in flight is never evicted", async (f) => {
  assertEquals(await f.loaded("n"), ["low", "new"]);
  const c = f.openai();
  const streams = ["low", "new"].map(async (model) => {
    return await endlessStream(c, model, 480, "go on");
  });
  await waitFor("both streams to be in flight", async () => {
    const s = await f.status();
    const models = s.neurons[0].models;
    return models.filter((m) => m.gateway_in_flight > 0 && m.in_flight > 0).length === 2;
  });
  // Streamed or not, a request that needs their room waits in the queue until they finish.
  const waiting = [false, true].map(async (stream) => {
    const res = await f.fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "high", messages: user("room please"), max_tokens: 2, stream }),
    });
    return { status: res.status, stream, text: await res.text() };
  });
  await waitFor(
    "both requests to queue",
    async () => metricValue(await f.metrics(), "cortex_queue_length", { model: "high" }) === 2,
  );
  assertEquals(await f.loaded("n"), ["low", "new"]);
  // Neither stream was cut short by an unload.
  assertEquals(await Promise.all(streams), [
    { tokens: 480, finish: "length" },
    { tokens: 480, finish: "length" },
  ]);
  for (const w of await Promise.all(waiting)) {
    assertEquals(w.status, 200, `stream: ${w.stream}: ${w.text}`);
    if (w.stream) assertMatch(w.text, /data: \[DONE\]/);
    else assertEquals(JSON.parse(w.text).usage.completion_tokens, 2);
  }
  const now = await f.loaded("n");
  assertEquals(now.length, 2);
  assert(now.includes("high"));
  const m = await f.metrics();
  assertEquals(metricValue(m, "cortex_evictions_total"), 2);
  assertEquals(metricValue(m, "cortex_queue_length"), 0);
  assertEquals(
    metricValue(m, "cortex_queue_wait_seconds_count", { model: "high", outcome: "served" }),
    2,
  );
});

lru.stop();

const priority = fleetTests({
  neurons: [NEURON],
  models: MODELS,
  eviction: `strategy = "priority"`,
  queue: NO_HOLD,
});

priority.test("priority: the lowest residency_priority makes room, used or not", async (f) => {
  await highLowNew(f);
  assertEquals(await f.loaded("n"), ["high", "new"]);
  assertEquals(
    metricValue(await f.metrics(), "cortex_evictions_total", { model: "low", reason: "capacity" }),
    1,
  );
});

priority.test("a model never displaces models of higher priority", async (f) => {
  const res = await f.post("/v1/chat/completions", {
    model: "lowly",
    messages: user("let me in"),
    max_tokens: 2,
  });
  assertEquals(res.status, 503);
  const err = res.json.error as { code: string; message: string };
  assertEquals(err.code, "no_capacity");
  assertMatch(err.message, /higher residency_priority/);
  assertEquals(await f.loaded("n"), ["high", "new"]);
});

priority.stop();

const idle = fleetTests({
  neurons: [NEURON],
  models: `
[[models]]
id = "long"
source = "plain.gguf"
context_length = 4096
`,
  eviction: `idle_ttl = "500ms"`,
  gateway: { poll_interval: "200ms" },
});

idle.test("idle TTL: a model unused for idle_ttl is unloaded, never while in use", async (f) => {
  const s = await f.openai().chat.completions.create(ext({
    model: "long",
    messages: user("keep going"),
    // The whole context: the client ends the stream itself once it has seen enough, so how
    // fast this machine generates matters only if 4000 tokens take under a second.
    max_tokens: 4000,
    stream: true,
  }, { grammar: ENDLESS }));
  const t0 = performance.now();
  let tokens = 0;
  let checkedPastTtl = 0;
  let lastCheck = 0;
  for await (const ch of s) {
    if (ch.choices[0]?.delta.content) tokens++;
    const now = performance.now();
    // Past the TTL since the request began, and past evictor passes (every 250 ms) after that.
    if (now - t0 > 800 && now - lastCheck > 100) {
      lastCheck = now;
      assertEquals(await f.loaded("n"), ["long"], "unloaded while a request was in flight");
      if (++checkedPastTtl === 3) break;
    }
  }
  const ended = performance.now();
  assert(tokens > 0 && checkedPastTtl === 3, `${tokens} tokens, ${checkedPastTtl} checks`);
  assertEquals(metricValue(await f.metrics(), "cortex_evictions_total"), 0);
  await waitFor("the idle unload", async () => (await f.loaded("n")).length === 0, 5000);
  const idleFor = performance.now() - ended;
  // The TTL runs from the request's end at the gateway, just after the client left it.
  assert(idleFor >= 250, `unloaded after only ${idleFor.toFixed(0)} ms idle`);
  // The neuron drops the model before its unload call returns to the gateway, which counts it.
  await waitFor(
    "the idle eviction to be counted",
    async () =>
      metricValue(await f.metrics(), "cortex_evictions_total", {
        model: "long",
        node: "n",
        reason: "idle",
      }) === 1,
  );
  // Gone from the neuron, still in the catalogue: a request right after the unload (while
  // the gateway may still be finishing it) loads it again.
  for (let i = 0; i < 3; i++) {
    await ask(f, "long");
    assertEquals(await f.loaded("n"), ["long"]);
    await waitFor("the next idle unload", async () => (await f.loaded("n")).length === 0, 5000, 5);
  }
  assertEquals(
    metricValue(await f.metrics(), "cortex_cold_starts_total", { model: "long", node: "n" }),
    4,
  );
});

idle.stop();

const pins = fleetTests({
  neurons: [NEURON],
  models: `
[[models]]
id = "kept"
source = "plain.gguf"
pinned = true

[[models]]
id = "other"
source = "plain.gguf"

[[models]]
id = "third"
source = "plain.gguf"
`,
  eviction: `strategy = "lru"\nidle_ttl = "1s"`,
  gateway: { poll_interval: "200ms" },
});

pins.test("pinned: never the victim, though least recently used, and never unloaded idle", async (f) => {
  await ask(f, "kept");
  await ask(f, "other");
  assertEquals(await f.loaded("n"), ["kept", "other"]);
  // LRU would pick kept; the pin leaves other as the only victim.
  await ask(f, "third");
  assertEquals(await f.loaded("n"), ["kept", "third"]);
  // Idle past the TTL: the unpinned model goes, the pinned one stays.
  await waitFor("third's idle unload", async () => !(await f.loaded("n")).includes("third"), 5000);
  await new Promise((r) => setTimeout(r, 1500));
  assertEquals(await f.loaded("n"), ["kept"]);
  const m = await f.metrics();
  assertEquals(metricValue(m, "cortex_evictions_total", { model: "kept" }), 0);
  assertEquals(metricValue(m, "cortex_evictions_total", { model: "other", reason: "capacity" }), 1);
  // An explicit unload still can.
  assertEquals((await f.post("/cortex/unload", { model: "kept" })).status, 200);
  assertEquals(await f.loaded("n"), []);
});

pins.stop();
