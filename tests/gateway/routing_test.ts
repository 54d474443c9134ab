/**
 * The gateway in front of two real neurons: the merged catalogue with
 * aliases, routing to the neuron that holds a model, cold loads on demand
 * (one load for a burst), `pinned_on`, what the proxy forwards and streams,
 * and bad input answered in the OpenAI shape.
 */

import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ENDLESS, ext, fleetTests, metricValue, type TestFleet, user, waitFor } from "./harness.ts";

const { test, stop } = fleetTests({
  neurons: [
    // a has the most free memory: placement prefers it unless told otherwise.
    { name: "a", store: { think: "think", plain: "plain", only_a: "llama3" }, budgetMb: 160 },
    {
      name: "b",
      store: { think: "think", plain: "plain", llama3: "llama3" },
      budgetMb: 80,
      preload: { adhoc: "llama3" },
    },
  ],
  gateway: { max_body_bytes: 65536 },
  models: `
[[models]]
id = "chat"
source = "think.gguf"
aliases = ["default", "gpt-4o-mini"]

[[models]]
id = "routed"
source = "think.gguf"

[[models]]
id = "cold"
source = "plain.gguf"

[[models]]
id = "burst"
source = "plain.gguf"

[[models]]
id = "pinned"
source = "plain.gguf"
pinned_on = ["b"]

[[models]]
id = "long"
source = "plain.gguf"
context_length = 2048

[[models]]
id = "ghost"
source = "missing.gguf"

[[models]]
id = "wrong-pin"
source = "only_a.gguf"
pinned_on = ["b"]
`,
});

/** Requests the neuron itself counted for a model (its own /metrics). */
async function neuronRequests(f: TestFleet, neuron: string, model: string): Promise<number> {
  return metricValue(await f.neurons[neuron].metrics(), "neuron_requests_total", { model });
}

/** How many times the neuron logged starting a load of `model`. */
function neuronLoads(f: TestFleet, neuron: string, model: string): number {
  return f.neurons[neuron].proc.log().split("\n")
    .filter((l) => l.includes(" loading ") && l.includes(`model=${model} `)).length;
}

test("catalogue: profiles, aliases and ad-hoc loads; unloadable profiles left out", async (f) => {
  const list = await f.openai().models.list();
  const ids = list.data.map((m) => m.id).sort();
  assertEquals(ids, [
    "adhoc",
    "burst",
    "chat",
    "cold",
    "default",
    "gpt-4o-mini",
    "long",
    "pinned",
    "routed",
  ]);
  for (const m of list.data) assertEquals(m.object, "model");
  const alias = list.data.find((m) => m.id === "default") as unknown as { alias_of: string };
  assertEquals(alias.alias_of, "chat");
  const adhoc = list.data.find((m) => m.id === "adhoc") as unknown as {
    state: string;
    loaded_on: string[];
  };
  assertEquals(adhoc.state, "loaded");
  assertEquals(adhoc.loaded_on, ["b"]);
  const one = await f.openai().models.retrieve("gpt-4o-mini");
  assertEquals((one as unknown as { alias_of: string }).alias_of, "chat");
  // A profile no live neuron can load is configured, but not served.
  const ghost = await f.post("/v1/chat/completions", { model: "ghost", messages: user("hi") });
  assertEquals(ghost.status, 503);
  assertEquals((ghost.json.error as { code: string }).code, "model_unavailable");
});

test("an alias answers as its model", async (f) => {
  const r = await f.openai().chat.completions.create({
    model: "gpt-4o-mini",
    messages: user("hello"),
    max_tokens: 4,
    temperature: 0,
  });
  assertEquals(r.model, "chat");
  assertEquals(r.usage?.completion_tokens, 4);
});

test("a model loaded only on b is served by b", async (f) => {
  const load = await f.post("/cortex/load", { model: "routed", node: "b" });
  assertEquals(load.status, 200);
  assertEquals(load.json.node, "b");
  const beforeA = await neuronRequests(f, "a", "routed");
  const beforeB = await neuronRequests(f, "b", "routed");
  const c = f.openai();
  for (let i = 0; i < 3; i++) {
    await c.chat.completions.create({ model: "routed", messages: user(`q${i}`), max_tokens: 2 });
  }
  const stream = await c.chat.completions.create({
    model: "routed",
    messages: user("streamed"),
    max_tokens: 3,
    stream: true,
  });
  for await (const _ of stream) { /* drain */ }
  assertEquals(await neuronRequests(f, "b", "routed") - beforeB, 4);
  assertEquals(await neuronRequests(f, "a", "routed") - beforeA, 0);
  assertEquals(await f.loaded("a").then((l) => l.includes("routed")), false);
  // The ad-hoc model too: only b has it.
  await c.chat.completions.create({ model: "adhoc", messages: user("hi"), max_tokens: 2 });
  assertEquals(await neuronRequests(f, "b", "adhoc"), 1);
});

test("a request for an unloaded profile loads it and answers", async (f) => {
  assertEquals((await f.loaded("a")).includes("cold"), false);
  assertEquals((await f.loaded("b")).includes("cold"), false);
  const r = await f.openai().chat.completions.create({
    model: "cold",
    messages: user("wake up"),
    max_tokens: 5,
  });
  assertEquals(r.usage?.completion_tokens, 5);
  // a had the most free memory.
  assert((await f.loaded("a")).includes("cold"));
  const status = await f.status();
  assertEquals(status.catalogue.find((e) => e.id === "cold")?.loaded_on, ["a"]);
  assertEquals(metricValue(await f.metrics(), "cortex_cold_starts_total", { model: "cold" }), 1);
});

test("10 concurrent requests for a cold model cause exactly one load", async (f) => {
  const c = f.openai();
  const results = await Promise.all(
    Array.from(
      { length: 10 },
      (_, i) =>
        i % 2
          ? c.chat.completions.create({ model: "burst", messages: user(`n${i}`), max_tokens: 3 })
            .then((r) => r.usage?.completion_tokens)
          : c.chat.completions.create({
            model: "burst",
            messages: user(`s${i}`),
            max_tokens: 3,
            stream: true,
            stream_options: { include_usage: true },
          }).then(async (s) => {
            let n: number | undefined;
            for await (const ch of s) n = ch.usage?.completion_tokens ?? n;
            return n;
          }),
    ),
  );
  assertEquals(results, Array(10).fill(3));
  assertEquals(metricValue(await f.metrics(), "cortex_cold_starts_total", { model: "burst" }), 1);
  assertEquals(neuronLoads(f, "a", "burst") + neuronLoads(f, "b", "burst"), 1);
  assertEquals(
    await neuronRequests(f, "a", "burst") + await neuronRequests(f, "b", "burst"),
    10,
  );
});

test("pinned_on: the model loads on its pinned neuron, not the roomier one", async (f) => {
  const r = await f.openai().chat.completions.create({
    model: "pinned",
    messages: user("where am i"),
    max_tokens: 2,
  });
  assertEquals(r.usage?.completion_tokens, 2);
  assert((await f.loaded("b")).includes("pinned"));
  assert(!(await f.loaded("a")).includes("pinned"));
  // Pinned where its file is not: not served at all.
  const wrong = await f.post("/v1/chat/completions", { model: "wrong-pin", messages: user("x") });
  assertEquals(wrong.status, 503);
  assert(!(await f.loaded("a")).includes("wrong-pin"));
  // An explicit load elsewhere is refused too, naming the pins.
  const elsewhere = await f.post("/cortex/load", { model: "pinned", node: "a" });
  assertEquals(elsewhere.status, 409);
  const err = (elsewhere.json as { error: { code: string; param: string; message: string } }).error;
  assertEquals([err.code, err.param], ["pinned_elsewhere", "node"]);
  assertMatch(err.message, /pinned_on b/);
  assert(!(await f.loaded("a")).includes("pinned"));
});

/** A grammar that thinks a little, closes the block by token id, then answers. */
async function thinkThenAnswer(f: TestFleet): Promise<string> {
  const holder = (await f.loaded("a")).includes("chat") ? "a" : "b";
  const tok = await f.neurons[holder].post("/tokenize", {
    model: "chat",
    prompt: "</think>",
    return_tokens: true,
  });
  const ids = tok.json.tokens as number[];
  return `root ::= [a-z]{4,8} <[${ids[ids.length - 1]}]> " " [a-z]{4,8}`;
}

test("x-include-thinking is forwarded: reasoning comes back inside <think> tags", async (f) => {
  // "chat" is loaded since the alias test.
  const grammar = await thinkThenAnswer(f);
  const body = ext({
    model: "chat",
    messages: user("think please"),
    max_tokens: 24,
    temperature: 0,
  }, { grammar });
  const wrapped = await f.openai({ headers: { "x-include-thinking": "1" } })
    .chat.completions.create(body);
  assertMatch(wrapped.choices[0].message.content ?? "", /^<think>[a-z]{4,8}<\/think> [a-z]{4,8}$/);
  const streamed = await f.openai({ headers: { "x-include-thinking": "true" } })
    .chat.completions.create({ ...body, stream: true });
  let text = "";
  for await (const ch of streamed) text += ch.choices[0]?.delta.content ?? "";
  assertMatch(text, /^<think>[a-z]{4,8}<\/think> [a-z]{4,8}$/);
  const plain = await f.openai().chat.completions.create(body);
  assert(!(plain.choices[0].message.content ?? "").includes("<think>"));
});

/** Text that never lets the model stop: generation runs to max_tokens. */

test("streams pass through chunk by chunk", async (f) => {
  const c = f.openai();
  await c.chat.completions.create({ model: "long", messages: user("warm"), max_tokens: 1 });
  const holder = (await f.loaded("a")).includes("long") ? "a" : "b";
  const stream = await c.chat.completions.create(ext({
    model: "long",
    messages: user("tell me a long story"),
    max_tokens: 1500,
    stream: true,
  }, { grammar: ENDLESS }));
  let tokens = 0;
  let generatingAtFirst: number | undefined;
  for await (const ch of stream) {
    if (!ch.choices[0]?.delta.content) continue;
    // Buffering anywhere (gateway or neuron) would hold the first token back until the end.
    if (tokens++ === 0) generatingAtFirst = (await f.neurons[holder].model("long"))?.in_flight;
  }
  assertEquals(tokens, 1500);
  assertEquals(generatingAtFirst, 1, "the first token arrived while the neuron was generating");
});

test("a client disconnect mid-stream cancels the request on the neuron", async (f) => {
  const holder = (await f.loaded("a")).includes("long") ? "a" : "b";
  const generated = async () =>
    metricValue(await f.neurons[holder].metrics(), "neuron_generation_tokens_total", {
      model: "long",
    });
  const before = await generated();
  const ac = new AbortController();
  const res = await f.fetch("/v1/chat/completions", {
    method: "POST",
    signal: ac.signal,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "long",
      messages: user("never stop"),
      max_tokens: 1900,
      stream: true,
      grammar: ENDLESS,
    }),
  });
  assertEquals(res.status, 200);
  const reader = res.body!.getReader();
  for (let i = 0; i < 5; i++) await reader.read();
  assertEquals((await f.neurons[holder].model("long"))?.in_flight, 1);
  ac.abort();
  await reader.cancel().catch(() => {});
  await waitFor(
    "the neuron to drop the request",
    async () => (await f.neurons[holder].model("long"))?.in_flight === 0,
  );
  // Left running, the request would have generated all 1900 tokens (about 10 s).
  const after = await generated() - before;
  assert(after < 500, `the neuron generated ${after} tokens for a request the client left`);
  await waitFor("the gateway to count the request done", async () => {
    const s = await f.status();
    const m = s.neurons.find((n) => n.name === holder)?.models.find((x) => x.id === "long");
    return m?.gateway_in_flight === 0;
  });
});

test("a client leaving a whole answer cancels it on the neuron and counts as 499", async (f) => {
  const holder = (await f.loaded("a")).includes("long") ? "a" : "b";
  const closed = async () =>
    metricValue(await f.metrics(), "cortex_request_errors_total", {
      model: "long",
      status: "499",
      kind: "client_closed",
    });
  const upstreamErrors = async () =>
    metricValue(await f.metrics(), "cortex_request_errors_total", {
      model: "long",
      kind: "upstream_error",
    });
  const [closedBefore, errorsBefore] = [await closed(), await upstreamErrors()];
  const ac = new AbortController();
  const pending = f.fetch("/v1/chat/completions", {
    method: "POST",
    signal: ac.signal,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "long",
      messages: user("never stop"),
      max_tokens: 1900,
      grammar: ENDLESS,
    }),
  }).catch((e) => e);
  await waitFor(
    "the neuron to take the request",
    async () => (await f.neurons[holder].model("long"))?.in_flight === 1,
  );
  ac.abort();
  assertEquals((await pending as Error).name, "AbortError");
  await waitFor(
    "the neuron to drop the request",
    async () => (await f.neurons[holder].model("long"))?.in_flight === 0,
  );
  await waitFor(
    "the gateway to count a client_closed 499",
    async () => await closed() === closedBefore + 1,
  );
  assertEquals(await upstreamErrors(), errorsBefore, "a client leaving is no upstream error");
});

test("bad input: OpenAI-shaped errors naming the problem", async (f) => {
  const post = (body: string) =>
    f.fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
  const shape = async (res: Response, status: number, code: string, param: string | null) => {
    assertEquals(res.status, status);
    const j = await res.json();
    assertEquals(Object.keys(j), ["error"]);
    assertEquals(j.error.code, code);
    assertEquals(j.error.param, param);
    assertEquals(typeof j.error.message, "string");
    assertEquals(typeof j.error.type, "string");
    return j.error.message as string;
  };
  await shape(await post("{not json"), 400, "invalid_json", null);
  const missing = await shape(
    await post(JSON.stringify({ messages: user("x") })),
    400,
    "missing_required_parameter",
    "model",
  );
  assertMatch(missing, /model/);
  const unknown = await shape(
    await post(JSON.stringify({ model: "no-such-model", messages: user("x") })),
    404,
    "model_not_found",
    "model",
  );
  assertMatch(unknown, /no-such-model/);
  await shape(
    await post(JSON.stringify({ model: "chat", messages: user("x".repeat(70_000)) })),
    413,
    "request_too_large",
    null,
  );
  // The SDK surfaces the same as typed errors.
  try {
    await f.openai().chat.completions.create({ model: "no-such-model", messages: user("x") });
    throw new Error("expected a 404");
  } catch (e) {
    assert(e instanceof OpenAI.NotFoundError, String(e));
    assertEquals(e.code, "model_not_found");
  }
});

stop();
