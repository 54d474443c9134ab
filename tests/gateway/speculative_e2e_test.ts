/**
 * Speculative decoding through the gateway: a models.toml profile naming a draft model is
 * cold-loaded with it, answers exactly as without drafting (the `speculative` extension
 * passes through), and what it drafted and had accepted reaches `cortex status`, the
 * gateway's Prometheus metrics and the dashboard's event stream. The extension reaches the
 * neuron from every dialect (a bad one is a 400 in the caller's); a profile whose draft no
 * neuron holds is refused before a load is tried.
 */

import Anthropic from "@anthropic-ai/sdk";
import type OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { fleetTests, metricValue, waitFor } from "./harness.ts";

const { test, stop } = fleetTests({
  neurons: [{
    name: "n1",
    store: { target: "specTarget", small: "specDraft" },
    budgetMb: 300,
  }],
  models: `
[[models]]
id = "fast"
source = "target.gguf"
draft = "small"
draft_max = 8

[[models]]
id = "plain"
source = "target.gguf"

[[models]]
id = "ghost"
source = "target.gguf"
draft = "nothing"
`,
});

// deno-lint-ignore no-explicit-any
const ext = <T>(params: T, extra: Record<string, unknown>): T => ({ ...params, ...extra }) as any;

async function ask(client: OpenAI, speculative?: string) {
  const r = await client.chat.completions.create(ext({
    model: "fast",
    messages: [{ role: "user", content: "Tell me about the sea and the wind." }],
    temperature: 0,
    max_tokens: 48,
  }, speculative ? { speculative } : {}) as OpenAI.ChatCompletionCreateParamsNonStreaming);
  return { content: r.choices[0].message.content, tokens: r.usage?.completion_tokens };
}

test("a profile's draft loads with it; output is plain decoding's; acceptance is reported", async (f) => {
  const client = f.openai();
  const drafted = await ask(client);
  const plain = await ask(client, "off");
  assertEquals(drafted, plain);
  assertEquals(await ask(client, "ngram"), plain);

  // The neuron loaded the draft as the profile said.
  const model = await f.neurons.n1.get("/models");
  const fast = (model.json.models as { id: string; speculation: Record<string, unknown> }[])
    .find((m) => m.id === "fast")!;
  assertEquals(fast.speculation.mode, "draft");
  assertEquals(fast.speculation.draft, "small");
  assertEquals(fast.speculation.draft_max, 8);

  // cortex status carries the counts (after the next poll).
  type Spec = { drafted_tokens: number; accepted_tokens: number };
  const spec: Spec = (await waitFor("the next poll's counts", async () => {
    const s = await (await f.fetch("/cortex/status")).json();
    const m = s.neurons[0].models.find((m: { id: string }) => m.id === "fast");
    return m?.speculation?.drafted_tokens > 0 ? m.speculation as Spec : null;
  }))!;
  // A perfect draft (the target's own first layer): nearly all of it accepted.
  assert(spec.accepted_tokens >= spec.drafted_tokens * 0.5, JSON.stringify(spec));

  const metrics = await f.metrics();
  const labels = { model: "fast", node: "n1" };
  assertEquals(metricValue(metrics, "cortex_draft_tokens_total", labels), spec.drafted_tokens);
  assertEquals(
    metricValue(metrics, "cortex_draft_accepted_tokens_total", labels),
    spec.accepted_tokens,
  );

  // The dashboard's stream shows it in the neuron's model rows.
  const ctl = new AbortController();
  const events = await f.fetch("/cortex/events", { signal: ctl.signal });
  const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n\n")) text += (await reader.read()).value ?? "";
  const snap = JSON.parse(text.slice(text.indexOf("data: ") + 6, text.indexOf("\n\n")));
  const row = snap.state.neurons[0].models.find((m: { id: string }) => m.id === "fast");
  assertEquals(row.speculation.mode, "draft");
  assert(row.speculation.drafted_tokens > 0);
  ctl.abort();
  await reader.cancel().catch(() => {});
});

test("the speculative extension in every dialect: honoured, or a 400 there naming it", async (f) => {
  const messages = [{ role: "user" as const, content: "hi" }];
  // "draft" on a model loaded without one: only the neuron knows, so a 400 from it proves the
  // field arrived (these dialects used to strip it and answer 200).
  const anthropic = new Anthropic({ baseURL: f.url, apiKey: "none", maxRetries: 0 });
  for (const speculative of ["draft", "banana"]) {
    const e = await anthropic.messages.create(
      ext({ model: "plain", max_tokens: 4, messages }, { speculative }),
    ).then(() => null, (e) => e);
    assert(e instanceof Anthropic.BadRequestError, String(e));
    const body = e.error as { error: { type: string; message: string } };
    assertEquals(body.error.type, "invalid_request_error");
    assertMatch(body.error.message, /^speculative: /);
  }
  const ok = await anthropic.messages.create(
    ext({ model: "plain", max_tokens: 4, messages }, { speculative: "ngram" }),
  );
  assertEquals(ok.stop_reason, "max_tokens");

  const responses = await f.post("/v1/responses", {
    model: "plain",
    input: "hi",
    max_output_tokens: 4,
    speculative: "draft",
  });
  assertEquals(responses.status, 400, JSON.stringify(responses.json));
  assertEquals((responses.json.error as { param: string }).param, "speculative");

  const ollama = await f.post("/api/chat", {
    model: "plain",
    messages,
    stream: false,
    options: { num_predict: 4, speculative: "draft" },
  });
  assertEquals(ollama.status, 400, JSON.stringify(ollama.json));
  assertMatch(String(ollama.json.error), /speculative/);
  const topLevel = await f.post("/api/chat", { model: "plain", messages, speculative: "ngram" });
  assertEquals(topLevel.status, 400, JSON.stringify(topLevel.json));
  assertMatch(String(topLevel.json.error), /options\.speculative/);
});

test("a profile whose draft no neuron holds is refused without a load, naming draft", async (f) => {
  const r = await f.post("/v1/chat/completions", {
    model: "ghost",
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 4,
  });
  // Not the neuron's 404 relayed as a failed load (502): like a missing source, pull it first.
  assertEquals(r.status, 503, JSON.stringify(r.json));
  const error = r.json.error as { code: string; message: string };
  assertEquals(error.code, "model_unavailable");
  assertMatch(error.message, /ghost's draft model nothing \(models\.toml `draft`\)/);
  assert(!(await f.loaded("n1")).includes("ghost"));
});

stop();
