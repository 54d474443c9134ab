/**
 * Context fitted to the model and the device, on a real neuron process: KV cache types,
 * refusals before loading (with the numbers), the limits `/v1/models` reports, the wording of
 * a too-long refusal, and an agent's second turn landing on its cached prefix.
 */

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import { makeStore, type Spawned, spawnServer, writeConfig } from "../helpers/processes.ts";

async function neuron(extra: string): Promise<Spawned> {
  const store = await makeStore({
    agent: await ensureFixture(FIXTURES.agent),
    plain: await ensureFixture(FIXTURES.plain),
  });
  const config = await writeConfig(
    "neuron.toml",
    `listen = "127.0.0.1:0"
model_dirs = ["${store}"]
n_threads = 1
${extra}
`,
  );
  return await spawnServer("cli/neuron.ts", config);
}

async function post(n: Spawned, path: string, body: unknown) {
  const r = await fetch(`${n.url}${path}`, { method: "POST", body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

async function get(n: Spawned, path: string) {
  return await (await fetch(`${n.url}${path}`)).json();
}

/** A prompt of about `words` × 2.9 tokens on the fixture's vocabulary. */
const text = (words: number, salt = "") =>
  Array.from({ length: words }, (_, i) => `w${salt}${i % 97}`).join(" ");

function ntest(name: string, extra: string, fn: (n: Spawned) => Promise<void>) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const n = await neuron(extra);
      try {
        await fn(n);
      } finally {
        await n.stop();
      }
    },
  });
}

ntest(
  'kv_cache_type = "q8_0" loads with the trained context, generates, and says so',
  'kv_cache_type = "q8_0"',
  async (n) => {
    const load = await post(n, "/models/load", { model: "agent" });
    assertEquals(load.status, 200, JSON.stringify(load.json));
    const m = load.json.model;
    assertEquals([m.context, m.slots, m.kv_cache_type], [131072, 4, "q8_0"]);
    // 2 layers × (64 K + 64 V) × 34/32 bytes: q8_0, not f16's 512.
    assertEquals(m.kv_bytes_per_token, 272);
    const r = await post(n, "/v1/chat/completions", {
      model: "agent",
      messages: [{ role: "user", content: text(300) }],
      max_tokens: 8,
      temperature: 0,
    });
    assertEquals(r.status, 200, JSON.stringify(r.json));
    assertEquals(r.json.usage.completion_tokens, 8);
    // A model whose heads are not whole q8_0 blocks is refused before loading, clearly.
    const narrow = await post(n, "/models/load", { model: "plain" });
    assertEquals(narrow.status, 400);
    assertMatch(narrow.json.error.message, /kv_cache_type "q8_0" needs attention heads a mult/);
    const f16 = await post(n, "/models/load", {
      model: "p16",
      source: "plain",
      kv_cache_type: "f16",
    });
    assertEquals(f16.status, 200, JSON.stringify(f16.json));
  },
);

ntest(
  "a setting that cannot fit is refused before loading, naming the numbers",
  "context = 131072\nslots = 4\nmemory_budget_mb = { CPU = 200 }",
  async (n) => {
    const r = await post(n, "/models/load", { model: "agent" });
    assertEquals(r.status, 507);
    assertMatch(
      r.json.error.message,
      /agent: context × slots as configured: needs 2\d\d MiB \(weights 1 MiB, compute \d+ MiB, KV cache 256 MiB for 4 slots × 131072 tokens at f16\) but CPU can give 200 MiB/,
    );
    // Nothing was loaded: the model is still just available.
    const models = await get(n, "/models");
    assertEquals(models.models.find((m: { id: string }) => m.id === "agent").state, "available");
    // The request's own settings win over neuron.toml's: these fit.
    const ok = await post(n, "/models/load", { model: "agent", context: 8192, slots: 2 });
    assertEquals(ok.status, 200, JSON.stringify(ok.json));
    assertEquals([ok.json.model.context, ok.json.model.slots], [8192, 2]);
  },
);

ntest(
  "too long: OpenAI's words first, then the trained length and how to raise the limit",
  "context = 2048\nslots = 1",
  async (n) => {
    assertEquals((await post(n, "/models/load", { model: "agent" })).status, 200);
    const models = await get(n, "/v1/models");
    const m = models.data[0];
    assertEquals(
      [m.context_length, m.max_input_tokens, m.max_output_tokens, m.trained_context_length],
      [2048, 2047, 2047, 131072],
    );
    const r = await post(n, "/v1/chat/completions", {
      model: "agent",
      messages: [{ role: "user", content: text(1000) }],
      max_tokens: 4,
    });
    assertEquals(r.status, 400);
    assertEquals(r.json.error.code, "context_length_exceeded");
    assertMatch(
      r.json.error.message,
      /^This model's maximum context length is 2048 tokens\. However, your messages resulted in \d+ tokens\. Please reduce the length of the messages\. The model was trained for 131072 tokens; this neuron gives each request 2048 \(1 slots, f16 KV cache\)\. To raise it, set `context` in neuron\.toml/,
    );
  },
);

ntest(
  "an agent's next turn (30k tokens + 300) lands on the slot holding its prefix",
  "",
  async (n) => {
    assertEquals((await post(n, "/models/load", { model: "agent" })).status, 200);
    const system = text(7700, "s");
    const turn = async (messages: unknown[]) => {
      const r = await post(n, "/v1/chat/completions", {
        model: "agent",
        messages,
        max_tokens: 4,
        temperature: 0,
      });
      assertEquals(r.status, 200, JSON.stringify(r.json));
      return r.json;
    };
    const first = [{ role: "system", content: system }, { role: "user", content: "go" }];
    const a = await turn(first);
    assert(a.usage.prompt_tokens >= 30000, `turn 1 has ${a.usage.prompt_tokens} tokens`);
    // Another conversation in between takes another slot, not this one's cache.
    await turn([{ role: "user", content: text(50, "x") }]);
    const b = await turn([
      ...first,
      { role: "assistant", content: a.choices[0].message.content ?? "" },
      { role: "user", content: text(75, "t") },
    ]);
    const cached = b.usage.prompt_tokens_details.cached_tokens;
    assert(cached >= a.usage.prompt_tokens - 8, `cached ${cached} of ${b.usage.prompt_tokens}`);
    assert(b.usage.prompt_tokens - cached <= 400, `prefilled ${b.usage.prompt_tokens - cached}`);
  },
);
