/**
 * Speculative decoding through the gateway: a models.toml profile naming a draft model is
 * cold-loaded with it, answers exactly as without drafting (the `speculative` extension
 * passes through), and what it drafted and had accepted reaches `cortex status`, the
 * gateway's Prometheus metrics and the dashboard's event stream.
 */

import type OpenAI from "openai";
import { assert, assertEquals } from "../assert.ts";
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

stop();
