/**
 * The gateway's Prometheus output after real traffic (every family, its
 * labels, token counts that match the answers, `promtool check metrics`),
 * bounded label values, and authentication: client API keys at the gateway,
 * neuron tokens between the gateway and its neurons.
 */

import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ext, fleetTests, metricLabels, metricValue, user } from "./harness.ts";

const KEYS = ["key-one", "key-two"];

const { test, stop } = fleetTests({
  apiKeys: KEYS,
  neurons: [
    // Room for one tiny model each: a second model on a evicts the first.
    { name: "a", store: { plain: "plain" }, budgetMb: 15, token: "token-a" },
    { name: "b", store: { think: "think" }, budgetMb: 15, token: "token-b" },
  ],
  models: `
[[models]]
id = "one"
source = "plain.gguf"
aliases = ["uno"]

[[models]]
id = "two"
source = "plain.gguf"

[[models]]
id = "thinker"
source = "think.gguf"
`,
});

/** Sorted label names of every sample of a family. */
function labelNames(text: string, family: string): string[][] {
  const seen = new Set(metricLabels(text, family).map((l) => Object.keys(l).sort().join(",")));
  return [...seen].sort().map((s) => s ? s.split(",") : []);
}

test("auth: a key as Bearer or x-api-key; none or a wrong one is a 401", async (f) => {
  const url = `${f.url}/v1/models`;
  for (
    const headers of [
      {},
      { authorization: "Bearer nope" },
      { "x-api-key": "nope" },
      { authorization: "key-one" },
    ] as Record<string, string>[]
  ) {
    const res = await fetch(url, { headers });
    assertEquals(res.status, 401, JSON.stringify(headers));
    const body = await res.json();
    assertEquals(Object.keys(body), ["error"]);
    assertEquals(body.error.code, "invalid_api_key");
    assertEquals(typeof body.error.message, "string");
    assertEquals(typeof body.error.type, "string");
    assertEquals(body.error.param, null);
  }
  const bearer = await fetch(url, { headers: { authorization: "Bearer key-one" } });
  assertEquals(bearer.status, 200);
  assertEquals((await bearer.json()).object, "list");
  const xKey = await fetch(url, { headers: { "x-api-key": "key-two" } });
  assertEquals(xKey.status, 200);
  await xKey.body?.cancel();
  const admin = await fetch(`${f.url}/cortex/status`);
  assertEquals(admin.status, 401);
  await admin.body?.cancel();
  try {
    await f.openai({ apiKey: "wrong" }).models.list();
    throw new Error("expected a 401");
  } catch (e) {
    assert(e instanceof OpenAI.AuthenticationError, String(e));
  }
  const chat = await fetch(`${f.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "x-api-key": "key-two", "content-type": "application/json" },
    body: JSON.stringify({ model: "one", messages: user("hi"), max_tokens: 2 }),
  });
  assertEquals(chat.status, 200);
  assertEquals((await chat.json()).usage.completion_tokens, 2);
});

test("neuron tokens: the neurons refuse anyone else, yet serve the gateway", async (f) => {
  for (const n of Object.values(f.neurons)) {
    const res = await fetch(`${n.url}/models`);
    assertEquals(res.status, 401);
    await res.body?.cancel();
    const wrong = await fetch(`${n.url}/models`, { headers: { authorization: "Bearer key-one" } });
    assertEquals(wrong.status, 401, "a client key is no neuron token");
    await wrong.body?.cancel();
  }
  const s = await f.status();
  assertEquals(s.neurons.map((n) => [n.name, n.up]), [["a", true], ["b", true]]);
  const r = await f.openai().chat.completions.create({
    model: "thinker",
    messages: user("hello"),
    max_tokens: 3,
  });
  assertEquals(r.usage?.completion_tokens, 3);
  assertEquals(await f.loaded("b"), ["thinker"]);
});

test("metrics: every family with its labels after traffic", async (f) => {
  const m0 = await f.metrics();
  const c = f.openai();
  let completion = 0;
  let prompt = 0;
  for (let i = 0; i < 3; i++) {
    const r = await c.chat.completions.create({
      model: "uno",
      messages: user(`q${i}`),
      max_tokens: 4,
    });
    completion += r.usage!.completion_tokens;
    prompt += r.usage!.prompt_tokens;
  }
  // A stream that did not ask for usage still has its tokens counted.
  const s = await c.chat.completions.create({
    model: "one",
    messages: user("stream"),
    max_tokens: 5,
    stream: true,
  });
  let streamed = 0;
  for await (const ch of s) if (ch.choices[0]?.delta.content !== undefined) streamed++;
  assert(streamed >= 5);
  completion += 5;
  const text = await c.completions.create({ model: "one", prompt: "once", max_tokens: 3 });
  assertEquals(text.usage?.completion_tokens, 3);
  // The neuron refuses this grammar: an error the gateway counts.
  const bad = await f.post(
    "/v1/chat/completions",
    ext({ model: "one", messages: user("x"), max_tokens: 2 }, { grammar: "root ::= [" }),
  );
  assertEquals(bad.status, 400);
  // "two" only fits on a by evicting "one".
  await c.chat.completions.create({ model: "two", messages: user("move over"), max_tokens: 2 });
  assertEquals(await f.loaded("a"), ["two"]);

  const m = await f.metrics();
  /** Growth of a series since the test began. */
  const grew = (family: string, labels: Record<string, string>) =>
    metricValue(m, family, labels) - metricValue(m0, family, labels);
  const chat = { model: "one", node: "a", endpoint: "chat" };
  assertEquals(grew("cortex_requests_total", { ...chat, status: "200" }), 4);
  assertEquals(grew("cortex_requests_total", { ...chat, status: "400" }), 1);
  assertEquals(
    grew("cortex_requests_total", {
      model: "one",
      endpoint: "completions",
      status: "200",
    }),
    1,
  );
  assertEquals(grew("cortex_completion_tokens_total", chat), completion);
  assert(grew("cortex_prompt_tokens_total", chat) > prompt, "stream prompt counted");
  assertEquals(
    grew("cortex_completion_tokens_total", { model: "one", endpoint: "completions" }),
    3,
  );
  assertEquals(grew("cortex_request_duration_seconds_count", chat), 5);
  assertEquals(grew("cortex_time_to_first_token_seconds_count", chat), 4);
  assert(grew("cortex_tokens_per_second_count", chat) >= 4);
  assertEquals(
    grew("cortex_request_errors_total", { ...chat, status: "400", kind: "client_error" }),
    1,
  );
  assertEquals(metricValue(m, "cortex_cold_starts_total", { model: "one", node: "a" }), 1);
  assertEquals(metricValue(m, "cortex_cold_starts_total", { model: "two", node: "a" }), 1);
  assertEquals(
    metricValue(m, "cortex_evictions_total", { model: "one", node: "a", reason: "capacity" }),
    1,
  );
  assertEquals(metricValue(m, "cortex_neuron_up", { node: "a" }), 1);
  assertEquals(metricValue(m, "cortex_neuron_up", { node: "b" }), 1);
  assertEquals(
    metricValue(m, "cortex_device_memory_bytes", { node: "a", device: "CPU", kind: "total" }),
    15 * 1024 * 1024,
  );
  assert(metricValue(m, "cortex_device_memory_bytes", { node: "a", kind: "used" }) > 0);

  const req = ["endpoint", "model", "node"];
  const expected: Record<string, string[][]> = {
    cortex_requests_total: [[...req, "status"]],
    cortex_request_errors_total: [["endpoint", "kind", "model", "node", "status"]],
    cortex_request_duration_seconds_bucket: [["endpoint", "le", "model", "node"]],
    cortex_request_duration_seconds_count: [req],
    cortex_time_to_first_token_seconds_bucket: [["endpoint", "le", "model", "node"]],
    cortex_tokens_per_second_bucket: [["endpoint", "le", "model", "node"]],
    cortex_prompt_tokens_total: [req],
    cortex_completion_tokens_total: [req],
    cortex_cold_starts_total: [["model", "node"]],
    cortex_evictions_total: [["model", "node", "reason"]],
    cortex_requests_in_flight: [["model"]],
    cortex_requests_queued: [["model"]],
    cortex_neuron_up: [["node"]],
    cortex_device_memory_bytes: [["device", "kind", "node"]],
  };
  for (const [family, names] of Object.entries(expected)) {
    assertEquals(labelNames(m, family), names, family);
  }
  // In flight: every model requested; queued: the models loaded now.
  assertEquals(metricValue(m, "cortex_requests_in_flight", { model: "one" }), 0);
  assertEquals(
    metricLabels(m, "cortex_requests_queued").map((l) => l.model).sort(),
    ["thinker", "two"],
  );
  // Only canonical ids and neuron names as label values: an alias never is one, and
  // requests refused before a model was resolved (the 401s above) count as "unknown".
  assert(!/model="uno"/.test(m), "an alias became a label value");
  assert(!/model="unknown",node="(?!none")/.test(m), `an "unknown" model reached a neuron:\n${m}`);
});

test("metrics: unknown model names share one bounded series", async (f) => {
  const first = await f.post("/v1/chat/completions", { model: "made-up-0", messages: user("x") });
  assertEquals(first.status, 404);
  const before = await f.metrics();
  for (let i = 1; i < 4; i++) {
    const r = await f.post("/v1/chat/completions", {
      model: `made-up-${i}`,
      messages: user("x"),
    });
    assertEquals(r.status, 404);
  }
  const after = await f.metrics();
  assert(!after.includes("made-up"), "the unknown name reached the metrics");
  const series = (t: string) =>
    t.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.replace(/\s\S+$/, ""))
      .sort();
  // Three more unknown names: the same series, counted, none new.
  assertEquals(series(after), series(before));
  const refused = { model: "unknown", node: "none", endpoint: "chat", status: "404" };
  assertEquals(
    metricValue(after, "cortex_requests_total", refused),
    metricValue(before, "cortex_requests_total", refused)! + 3,
  );
});

test("metrics: promtool check metrics accepts the output", async (f) => {
  const text = await f.metrics();
  assertMatch(text, /cortex_requests_total\{/);
  const cmd = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
  // No promtool is a failure, never a skip: CI installs the Debian package `prometheus`.
  const p = cmd.spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await p.output();
  const dec = new TextDecoder();
  assertEquals(
    out.code,
    0,
    `promtool: ${dec.decode(out.stdout)}${dec.decode(out.stderr)}`,
  );
});

stop();
