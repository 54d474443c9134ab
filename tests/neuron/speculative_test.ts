/**
 * Speculative decoding through a real neuron and the official OpenAI client: a model loaded
 * with a draft model (and one drafting by prompt lookup) answers token for token as it does
 * without speculation at temperature 0, with a json_schema grammar and a forced tool call;
 * what was drafted and accepted shows in /models and /metrics; bad draft settings are 4xx
 * naming the field.
 */

import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import { SharedServer } from "../helpers/shared_server.ts";
import { makeStore, spawnServer, writeConfig } from "../helpers/processes.ts";

const neuron = new SharedServer(async () => {
  const files = {
    target: await ensureFixture(FIXTURES.specTarget),
    "drafts/perfect": await ensureFixture(FIXTURES.specDraft),
    "drafts/llama3": await ensureFixture(FIXTURES.llama3),
  };
  const store = await makeStore(files);
  // Draft files that are not models: no GGUF header at all, and one cut short (its header
  // reads, llama.cpp's load fails).
  await Deno.writeTextFile(`${store}/drafts/garbage.gguf`, "not a model\n".repeat(100));
  const draftBytes = await Deno.readFile(files["drafts/perfect"]);
  await Deno.writeFile(
    `${store}/drafts/truncated.gguf`,
    draftBytes.slice(0, draftBytes.length >> 1),
  );
  const config = await writeConfig(
    "neuron.toml",
    `listen = "127.0.0.1:0"
model_dirs = ["${store}"]
slots = 2
context = 2048
n_threads = 1
n_batch = 256
memory_budget_mb = { CPU = 600 }
`,
  );
  return await spawnServer("cli/neuron.ts", config);
}, async (n) => {
  const drafted = await n.post("/models/load", {
    model: "drafted",
    source: "target",
    draft: "drafts/perfect",
    draft_max: 8,
  });
  assertEquals(drafted.status, 200, JSON.stringify(drafted.json));
  const lookup = await n.post("/models/load", {
    model: "lookup",
    source: "target",
    speculative: "ngram",
  });
  assertEquals(lookup.status, 200, JSON.stringify(lookup.json));
});

const client = () => new OpenAI({ baseURL: `${neuron.url}/v1`, apiKey: "none", maxRetries: 0 });
// deno-lint-ignore no-explicit-any
const ext = <T>(params: T, extra: Record<string, unknown>): T => ({ ...params, ...extra }) as any;

const SCHEMA = {
  type: "object",
  properties: {
    city: { type: "string", enum: ["Paris", "London", "Tokyo"] },
    days: { type: "integer", minimum: 1, maximum: 7 },
    note: { type: "string", maxLength: 24 },
  },
  required: ["city", "days", "note"],
  additionalProperties: false,
};

const TOOLS: OpenAI.ChatCompletionTool[] = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: SCHEMA,
  },
}];

type Mode = "off" | "ngram" | "draft";

async function answer(model: string, speculative: Mode, extra: Record<string, unknown>) {
  const r = await client().chat.completions.create(ext({
    model,
    messages: [{ role: "user", content: "Weather in Paris for three days, as JSON please." }],
    temperature: 0,
    max_tokens: 160,
  }, { speculative, ...extra }) as OpenAI.ChatCompletionCreateParamsNonStreaming);
  const c = r.choices[0];
  return {
    content: c.message.content ?? "",
    calls: (c.message.tool_calls ?? []).map((
      t,
    ) => [
      (t as OpenAI.ChatCompletionMessageFunctionToolCall).function.name,
      (t as OpenAI.ChatCompletionMessageFunctionToolCall).function.arguments,
    ]),
    finish: c.finish_reason,
    tokens: r.usage?.completion_tokens,
  };
}

/** Each case's request fields (a stop string is taken from the free answer, well inside it). */
const CASES: [string, () => Promise<Record<string, unknown>>][] = [
  ["json_schema", () =>
    Promise.resolve({
      response_format: {
        type: "json_schema",
        json_schema: { name: "w", schema: SCHEMA, strict: true },
      },
    })],
  ["forced tool call", () =>
    Promise.resolve({
      tools: TOOLS,
      tool_choice: { type: "function", function: { name: "get_weather" } },
      parallel_tool_calls: false,
    })],
  ["free text with a stop string", async () => {
    const free = await answer("drafted", "off", {});
    assert(free.content.length > 60, JSON.stringify(free));
    return { stop: [free.content.slice(50, 53)] };
  }],
];

/** The "drafted" model's speculation figures from /models. */
async function speculation() {
  const r = await (await fetch(`${neuron.url}/models`)).json();
  const m = r.models.find((x: { id: string }) => x.id === "drafted");
  assert(m, JSON.stringify(r));
  return m.speculation;
}

for (const [what, fields] of CASES) {
  neuron.test(`${what}: the same answer with a draft model, prompt lookup or neither`, async () => {
    const extra = await fields();
    const plain = await answer("drafted", "off", extra);
    if (what === "json_schema") JSON.parse(plain.content);
    if (what === "forced tool call") JSON.parse(plain.calls[0][1]);
    if (what === "free text with a stop string") assertEquals(plain.finish, "stop");
    const before = await speculation();
    assertEquals(await answer("drafted", "draft", extra), plain, "drafted draft");
    const after = await speculation();
    const drafted = after.drafted_tokens - before.drafted_tokens;
    const accepted = after.accepted_tokens - before.accepted_tokens;
    const seen = JSON.stringify({ before, after });
    if (what === "free text with a stop string") {
      assert(accepted > 0, seen);
    } else {
      // Drafts were verified under the grammar, not skipped; the draft (the target's
      // unconstrained choice) is what the grammar rejects here.
      assert(drafted > accepted, seen);
    }
    for (
      const [model, mode] of [["drafted", "ngram"], ["lookup", "ngram"]] as const
    ) {
      const spec = await answer(model, mode, extra);
      assertEquals(spec, plain, `${model} ${mode}`);
    }
    // Batched: speculating and plain requests in the same steps, and both kinds of drafts.
    for (const pair of [["draft", "off"], ["draft", "ngram"]] as const) {
      const together = await Promise.all(pair.map((mode) => answer("drafted", mode, extra)));
      together.forEach((r, i) => assertEquals(r, plain, `batched ${pair[i]} with ${pair}`));
    }
  });
}

neuron.test("drafted and accepted tokens show in /models and /metrics", async () => {
  const before = await speculation();
  await answer("drafted", "draft", { max_tokens: 64 });
  const after = await speculation();
  assertEquals(after.mode, "draft");
  assertEquals(after.draft, "drafts/perfect");
  assertEquals(after.draft_max, 8);
  const drafted = after.drafted_tokens - before.drafted_tokens;
  const accepted = after.accepted_tokens - before.accepted_tokens;
  // The draft is the target's own first layer: what it drafts is accepted (but for the
  // draft max_tokens cuts short).
  assert(drafted > 0 && accepted >= drafted - 8, JSON.stringify({ before, after }));
  const metrics = await (await fetch(`${neuron.url}/metrics`)).text();
  const value = (name: string) =>
    Number(metrics.match(new RegExp(`^${name}\\{model="drafted"\\} (\\d+)`, "m"))?.[1]);
  assertEquals(value("neuron_draft_tokens_total"), after.drafted_tokens, metrics);
  assertEquals(value("neuron_draft_accepted_tokens_total"), after.accepted_tokens, metrics);
});

neuron.test("bad speculation settings are 4xx naming the field", async () => {
  const noDraft = await neuron.post("/v1/chat/completions", {
    model: "lookup",
    messages: [{ role: "user", content: "hi" }],
    speculative: "draft",
  });
  assertEquals(noDraft.status, 400);
  assertEquals(noDraft.json.error.param, "speculative");
  const bad = await neuron.post("/v1/chat/completions", {
    model: "lookup",
    messages: [{ role: "user", content: "hi" }],
    speculative: "eagle",
  });
  assertEquals(bad.status, 400);
  assertMatch(bad.json.error.message, /speculative/);

  const incompatible = await neuron.post("/models/load", {
    model: "mismatch",
    source: "target",
    draft: "drafts/llama3",
  });
  assertEquals(incompatible.status, 400, JSON.stringify(incompatible.json));
  assertEquals(incompatible.json.error.param, "draft");
  assertMatch(incompatible.json.error.message, /draft model's vocabulary does not match/);
  const missing = await neuron.post("/models/load", {
    model: "missing",
    source: "target",
    draft: "drafts/nothing",
  });
  assertEquals(missing.status, 404);
  assertEquals(missing.json.error.param, "draft");
  // A draft file that is no model: 4xx naming draft (the header one was a 500), and the target
  // is not left loaded (nor its memory counted) when the draft's llama.cpp load fails.
  const used = async () =>
    (await (await fetch(`${neuron.url}/health`)).json()).devices[0].memory_used_bytes;
  const usedBefore = await used();
  for (const [id, status] of [["garbage", 400], ["truncated", 422]] as const) {
    const r = await neuron.post("/models/load", {
      model: `broken-${id}`,
      source: "target",
      draft: `drafts/${id}`,
    });
    assertEquals(r.status, status, JSON.stringify(r.json));
    assertEquals(r.json.error.param, "draft", JSON.stringify(r.json));
    assertMatch(r.json.error.message, new RegExp(`^draft: .*drafts/${id}\\.gguf`));
  }
  assertEquals(await used(), usedBefore);
  // The same unreadable file as the model itself names source.
  const garbage = await neuron.post("/models/load", { model: "g", source: "drafts/garbage" });
  assertEquals(garbage.status, 400, JSON.stringify(garbage.json));
  assertEquals(garbage.json.error.param, "source");
  const needsDraft = await neuron.post("/models/load", {
    model: "needs",
    source: "target",
    speculative: "draft",
  });
  assertEquals(needsDraft.status, 400);
  assertEquals(needsDraft.json.error.param, "speculative");
  // Refused loads leave nothing behind: the models still serve.
  assertEquals((await answer("drafted", "draft", {})).finish, "length");
});

neuron.test("a draft model counts in its target's memory, and unloading the target frees both", async () => {
  const health = async () => (await (await fetch(`${neuron.url}/health`)).json()).devices[0];
  const models = async () =>
    (await (await fetch(`${neuron.url}/models`)).json()).models as {
      id: string;
      state: string;
      size_bytes: number;
      memory_bytes: number | null;
    }[];
  const before = await health();
  const loaded = await neuron.post("/models/load", {
    model: "accounted",
    source: "target",
    draft: "drafts/perfect",
  });
  assertEquals(loaded.status, 200, JSON.stringify(loaded.json));
  const all = await models();
  const draftFile = all.find((m) => m.id === "drafts/perfect")!.size_bytes;
  const plain = all.find((m) => m.id === "lookup")!.memory_bytes!; // the same target, no draft
  const withDraft = loaded.json.model.memory_bytes;
  assert(withDraft >= plain + draftFile, JSON.stringify({ withDraft, plain, draftFile }));
  assertEquals((await health()).memory_used_bytes, before.memory_used_bytes + withDraft);
  const un = await neuron.post("/models/unload", { model: "accounted" });
  assertEquals(un.status, 200, JSON.stringify(un.json));
  assertEquals((await health()).memory_used_bytes, before.memory_used_bytes);
  assert(!(await models()).some((m) => m.id === "accounted"));
});

neuron.stopAtEnd("the neuron stops cleanly");
