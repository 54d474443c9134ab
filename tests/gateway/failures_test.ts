/**
 * Neurons dying under the gateway (SIGKILL, no goodbye): requests route
 * around a dead holder, a stream whose neuron dies ends with an error the
 * client sees, and what only the dead neuron had leaves the catalogue.
 */

import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ENDLESS, ext, fleetTests, metricValue, type TestFleet, user, waitFor } from "./harness.ts";

const { test, stop } = fleetTests({
  neurons: [
    { name: "a", store: { think: "think" } },
    { name: "b", store: { think: "think" } },
    { name: "c", store: { solo: "plain" } },
  ],
  models: `
[[models]]
id = "shared"
source = "think.gguf"

[[models]]
id = "solo"
source = "solo.gguf"
`,
});

/** Text that never lets the model stop: generation runs to max_tokens. */

async function neuronRequests(f: TestFleet, neuron: string, model: string): Promise<number> {
  return metricValue(await f.neurons[neuron].metrics(), "neuron_requests_total", { model });
}

/** Rejects if `p` takes longer than `ms`: a hang fails the test instead of stalling it. */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]);
}

test("setup: shared is loaded on a and b, solo on c", async (f) => {
  for (const node of ["a", "b"]) {
    const r = await f.post("/cortex/load", { model: "shared", node });
    assertEquals(r.status, 200);
  }
  await f.openai().chat.completions.create({ model: "solo", messages: user("x"), max_tokens: 1 });
  assertEquals(await f.loaded("a"), ["shared"]);
  assertEquals(await f.loaded("b"), ["shared"]);
  assertEquals(await f.loaded("c"), ["solo"]);
  await waitFor("the gateway to see both holders", async () => {
    const s = await f.status();
    return s.catalogue.find((e) => e.id === "shared")?.loaded_on.length === 2;
  });
});

test("a SIGKILLed holder is routed around; requests keep succeeding", async (f) => {
  const before = await neuronRequests(f, "b", "shared");
  await f.neurons.a.proc.kill();
  // Ties go to a by name: the first requests meet the dead neuron before the poller notices.
  const c = f.openai();
  const s = await within(
    20_000,
    c.chat.completions.create({
      model: "shared",
      messages: user("still there?"),
      max_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
    }),
    "stream after the kill",
  );
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const ch of s) usage = ch.usage ?? usage;
  assertEquals(usage?.completion_tokens, 3);
  for (let i = 0; i < 5; i++) {
    const r = await within(
      20_000,
      c.chat.completions.create({ model: "shared", messages: user(`q${i}`), max_tokens: 2 }),
      `request ${i} after the kill`,
    );
    assertEquals(r.usage?.completion_tokens, 2);
  }
  assertEquals(await neuronRequests(f, "b", "shared") - before, 6);
  const status = await f.status();
  assertEquals(status.neurons.find((n) => n.name === "a")?.up, false);
  const m = await f.metrics();
  assertEquals(metricValue(m, "cortex_neuron_up", { node: "a" }), 0);
  assertEquals(metricValue(m, "cortex_neuron_up", { node: "b" }), 1);
});

test("a neuron killed mid-stream: the client's stream ends with an error", async (f) => {
  const s = await f.openai().chat.completions.create(ext({
    model: "solo",
    messages: user("talk forever"),
    max_tokens: 400,
    stream: true,
  }, { grammar: ENDLESS }));
  let chunks = 0;
  const outcome = within(
    15_000,
    (async () => {
      try {
        for await (const ch of s) {
          if (ch.choices[0]?.delta.content) chunks++;
          if (chunks === 5) await f.neurons.c.proc.kill();
        }
        return null;
      } catch (e) {
        return e as Error;
      }
    })(),
    "the broken stream",
  );
  const err = await outcome;
  assert(err !== null, "the stream ended as if nothing happened");
  assert(err instanceof OpenAI.APIError, `not an APIError: ${err}`);
  assertMatch(err.message, /neuron/);
  assert(chunks >= 5 && chunks < 400);
  await waitFor(
    "the error to be counted",
    async () =>
      metricValue(await f.metrics(), "cortex_request_errors_total", {
        model: "solo",
        kind: "upstream_error",
      }) === 1,
  );
});

test("what only the dead neuron had leaves the catalogue", async (f) => {
  await waitFor("c to be marked down", async () => {
    const s = await f.status();
    return s.neurons.find((n) => n.name === "c")?.up === false;
  });
  const ids = (await f.openai().models.list()).data.map((m) => m.id);
  assertEquals(ids, ["shared"]);
  const r = await f.post("/v1/chat/completions", { model: "solo", messages: user("x") });
  assertEquals(r.status, 503);
  assertEquals((r.json.error as { code: string }).code, "model_unavailable");
});

stop();
