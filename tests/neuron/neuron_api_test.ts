/**
 * A real neuron process on loopback, driven with the official `openai`
 * client: chat (streamed and not), completions, embeddings, reasoning on
 * the wire, lifecycle, disconnects.
 */

import OpenAI from "openai";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import { makeStore, spawnServer, writeConfig } from "../helpers/processes.ts";
import { SharedServer } from "../helpers/shared_server.ts";
import { metaString, readGgufHeader } from "../../neuron/store/gguf_header.ts";

const TOKEN = "neuron-secret";
const neuron = new SharedServer(async () => {
  const store = await makeStore({
    think: await ensureFixture(FIXTURES.think),
    bracket: await ensureFixture(FIXTURES.bracketThink),
    plain: await ensureFixture(FIXTURES.plain),
    llama3: await ensureFixture(FIXTURES.llama3),
    bench: await ensureFixture(FIXTURES.bench),
  });
  const config = await writeConfig(
    "neuron.toml",
    `listen = "127.0.0.1:0"
model_dirs = ["${store}"]
slots = 2
context = 512
n_threads = 1
n_batch = 128
max_queue = 4
token = "${TOKEN}"
memory_budget_mb = { CPU = 400 }
`,
  );
  return await spawnServer("cli/neuron.ts", config);
}, async () => {
  for (const model of ["think", "bracket", "plain"]) {
    await post("/models/load", { model, embeddings: model === "plain" });
  }
});

const AUTH = { authorization: `Bearer ${TOKEN}` };
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  neuron.post(path, body, { ...AUTH, ...headers });

async function get(path: string) {
  const res = await fetch(`${neuron.url}${path}`, { headers: AUTH });
  return { status: res.status, json: await res.json() };
}

function client(headers: Record<string, string> = {}) {
  return new OpenAI({
    baseURL: `${neuron.url}/v1`,
    apiKey: TOKEN,
    defaultHeaders: headers,
    maxRetries: 0,
  });
}

/** Test steps share one neuron; the last test stops it. */
const itest = (name: string, fn: () => Promise<void>) => neuron.test(name, fn);

const user = (text: string) => [{ role: "user" as const, content: text }];

/** Adds llama.cpp-style extension fields the SDK's types do not know. */
// deno-lint-ignore no-explicit-any
const ext = <T>(params: T, extra: Record<string, unknown>): T => ({ ...params, ...extra }) as any;

itest("chat completion: usage equals the tokenizer's count and max_tokens", async () => {
  const c = client();
  const r = await c.chat.completions.create({
    model: "plain",
    messages: user("hello there"),
    max_tokens: 7,
    temperature: 0,
  });
  assertEquals(r.object, "chat.completion");
  assertEquals(r.choices[0].finish_reason, "length");
  assertEquals(r.usage?.completion_tokens, 7);
  const count = await post("/tokenize", { model: "plain", messages: user("hello there") });
  assertEquals(r.usage?.prompt_tokens, count.json.count);
  assertEquals(r.usage?.total_tokens, count.json.count + 7);
  assert(typeof r.choices[0].message.content === "string");
});

itest("streamed chat equals the non-streamed one, with usage last", async () => {
  const c = client();
  const whole = await c.chat.completions.create({
    model: "plain",
    messages: user("stream me"),
    max_tokens: 12,
    temperature: 0,
  });
  const stream = await c.chat.completions.create({
    model: "plain",
    messages: user("stream me"),
    max_tokens: 12,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  let chunks = 0;
  for await (const ch of stream) {
    chunks++;
    if (ch.usage) usage = ch.usage;
    for (const choice of ch.choices) {
      text += choice.delta.content ?? "";
      finish = choice.finish_reason ?? finish;
    }
  }
  assertEquals(text, whole.choices[0].message.content);
  assertEquals(finish, "length");
  assertEquals(usage?.completion_tokens, 12);
  assertEquals(usage?.prompt_tokens, whole.usage?.prompt_tokens);
  assert(chunks >= 3);
});

itest("stop sequences end the answer and never appear in it", async () => {
  const c = client();
  const full = await c.chat.completions.create({
    model: "plain",
    messages: user("stop test"),
    max_tokens: 30,
    temperature: 0,
  });
  const text = full.choices[0].message.content!;
  const chars = [...text];
  let at = 2;
  while (at < chars.length - 1 && (chars[at] === "\uFFFD" || chars[at + 1] === "\uFFFD")) at++;
  const stop = chars.slice(at, at + 2).join("");
  assert(stop.length === 2, `usable stop from ${JSON.stringify(text)}`);
  const cut = await c.chat.completions.create({
    model: "plain",
    messages: user("stop test"),
    max_tokens: 30,
    temperature: 0,
    stop: [stop],
  });
  assertEquals(cut.choices[0].finish_reason, "stop");
  assertEquals(cut.choices[0].message.content, text.slice(0, text.indexOf(stop)));
  // deno-lint-ignore no-explicit-any
  assertEquals((cut.choices[0] as any).stop_reason, stop);
});

itest("a seed makes sampling reproducible", async () => {
  const c = client();
  const ask = (seed: number) =>
    c.chat.completions.create({
      model: "plain",
      messages: user("be random"),
      max_tokens: 16,
      temperature: 1.5,
      seed,
    }).then((r) => r.choices[0].message.content);
  const a = await ask(42);
  const b = await ask(42);
  const others = await Promise.all([7, 8, 9].map(ask));
  assertEquals(a, b);
  assert(others.some((o) => o !== a), "other seeds give other text");
});

/** A grammar that thinks a little, closes the block by token id, then answers. */
async function thinkThenAnswer(model: string) {
  const marker = model === "bracket" ? "[/THINK]" : "</think>";
  const tok = await post("/tokenize", { model, prompt: marker, return_tokens: true });
  const ids = tok.json.tokens as number[];
  const close = ids[ids.length - 1];
  return `root ::= [a-z]{4,8} <[${close}]> " " [a-z]{4,8}`;
}

for (
  const [model, open, close] of [["think", "<think>", "</think>"], [
    "bracket",
    "[THINK]",
    "[/THINK]",
  ]]
) {
  itest(
    `reasoning (${model}): reasoning_budget_tokens ends the thinking, the answer follows`,
    async () => {
      const c = client();
      const ask = (budget?: number) =>
        c.chat.completions.create(ext({
          model,
          messages: user("think please"),
          max_tokens: 24,
          temperature: 0,
        }, { chat_template_kwargs: { enable_thinking: true }, reasoning_budget_tokens: budget }));
      const tokens = (r: OpenAI.ChatCompletion) =>
        r.usage?.completion_tokens_details?.reasoning_tokens ?? 0;
      const free = await ask();
      assert(tokens(free) > 4, `unbudgeted, it thinks past 3: ${tokens(free)}`);
      const r = await ask(3);
      assertEquals(tokens(r), 4, "three tokens of reasoning and the close marker");
      const msg = r.choices[0].message as OpenAI.ChatCompletionMessage & {
        reasoning_content?: string;
      };
      assert((msg.content ?? "").length > 0, "an answer after the thinking");
      assert(
        !(msg.content ?? "").includes(close) && !(msg.reasoning_content ?? "").includes(close),
      );
      // A caller's GBNF covers the reasoning too: cutting it short would leave the grammar.
      const res = await post("/v1/chat/completions", {
        model,
        messages: user("x"),
        grammar: 'root ::= "a"',
        reasoning_budget_tokens: 3,
      });
      assertEquals(res.status, 400);
      assertEquals(res.json.error.param, "reasoning_budget_tokens");
      // A budget no smaller than max_tokens can never bind: nothing to refuse.
      const loose = await post("/v1/chat/completions", {
        model,
        messages: user("x"),
        grammar: 'root ::= "a"',
        max_tokens: 4,
        reasoning_budget_tokens: 4,
      });
      assertEquals(loose.status, 200);
    },
  );

  itest(`reasoning (${model}): reasoning_content, never in content by default`, async () => {
    const c = client();
    const grammar = await thinkThenAnswer(model);
    const r = await c.chat.completions.create(ext({
      model,
      messages: user("think please"),
      max_tokens: 24,
      temperature: 0,
    }, {
      chat_template_kwargs: { enable_thinking: true },
      grammar,
    }));
    const msg = r.choices[0].message as OpenAI.ChatCompletionMessage & {
      reasoning_content?: string;
    };
    assertMatch(msg.reasoning_content ?? "", /^[a-z]{4,8}$/);
    assertMatch(msg.content ?? "", /^ [a-z]{4,8}$/);
    assert(!(msg.content ?? "").includes(open) && !(msg.content ?? "").includes(close));
    assert((r.usage?.completion_tokens_details?.reasoning_tokens ?? 0) >= 2);
  });

  itest(`reasoning (${model}): streamed as reasoning_content deltas`, async () => {
    const c = client();
    const grammar = await thinkThenAnswer(model);
    const stream = await c.chat.completions.create(ext({
      model,
      messages: user("think please"),
      max_tokens: 24,
      temperature: 0,
      stream: true,
    }, {
      chat_template_kwargs: { enable_thinking: true },
      grammar,
    }));
    let reasoning = "";
    let content = "";
    for await (const ch of stream) {
      const d = ch.choices[0]?.delta as
        | { content?: string; reasoning_content?: string }
        | undefined;
      reasoning += d?.reasoning_content ?? "";
      content += d?.content ?? "";
    }
    assertMatch(reasoning, /^[a-z]{4,8}$/);
    assertMatch(content, /^ [a-z]{4,8}$/);
  });

  itest(`reasoning (${model}): x-include-thinking re-wraps it in content`, async () => {
    const c = client({ "x-include-thinking": "TRUE" });
    const grammar = await thinkThenAnswer(model);
    const stream = await c.chat.completions.create(ext({
      model,
      messages: user("think please"),
      max_tokens: 24,
      temperature: 0,
      stream: true,
    }, {
      grammar,
    }));
    let content = "";
    let reasoning = "";
    for await (const ch of stream) {
      const d = ch.choices[0]?.delta as
        | { content?: string; reasoning_content?: string }
        | undefined;
      content += d?.content ?? "";
      reasoning += d?.reasoning_content ?? "";
    }
    assertEquals(reasoning, "");
    const esc = (s: string) => s.replace(/[[\]/]/g, "\\$&");
    assertMatch(content, new RegExp(`^${esc(open)}[a-z]{4,8}${esc(close)} [a-z]{4,8}$`));
  });
}

itest(
  "thinking on without a close: content empty, reasoning kept; header closes the marker",
  async () => {
    const c = client();
    const r = await c.chat.completions.create(ext({
      model: "think",
      messages: user("keep thinking"),
      max_tokens: 10,
      temperature: 0,
    }, {
      chat_template_kwargs: { enable_thinking: true },
      grammar: "root ::= [a-z ]{30,40}",
    }));
    const msg = r.choices[0].message as { content: string; reasoning_content?: string };
    assertEquals(msg.content, "");
    assertMatch(msg.reasoning_content ?? "", /^[a-z ]+$/);
    const wrapped = await client({ "x-include-thinking": "1" }).chat.completions.create(ext({
      model: "think",
      messages: user("keep thinking"),
      max_tokens: 10,
      temperature: 0,
    }, {
      grammar: "root ::= [a-z ]{30,40}",
    }));
    assertMatch(wrapped.choices[0].message.content ?? "", /^<think>[a-z ]+<\/think>$/);
  },
);

itest("thinking is off by default: the template closes the block, no reasoning", async () => {
  const r = await client().chat.completions.create(ext({
    model: "think",
    messages: user("quick answer"),
    max_tokens: 8,
    temperature: 0,
  }, {
    grammar: "root ::= [a-z]{8,10}",
  }));
  const msg = r.choices[0].message as { content: string; reasoning_content?: string };
  assertMatch(msg.content, /^[a-z]+$/);
  assertEquals(msg.reasoning_content, undefined);
  assertEquals(r.usage?.completion_tokens_details?.reasoning_tokens, 0);
});

itest("a marker-less model: the same request yields plain content", async () => {
  const r = await client({ "x-include-thinking": "yes" }).chat.completions.create(ext({
    model: "plain",
    messages: user("think?"),
    max_tokens: 8,
    temperature: 0,
  }, {
    grammar: "root ::= [a-z]{8,10}",
  }));
  assertMatch(r.choices[0].message.content ?? "", /^[a-z]+$/);
});

itest("text completions, streamed and not", async () => {
  const c = client();
  const r = await c.completions.create({
    model: "plain",
    prompt: "Once upon a time",
    max_tokens: 6,
    temperature: 0,
  });
  assertEquals(r.object, "text_completion");
  assertEquals(r.usage?.completion_tokens, 6);
  const s = await c.completions.create({
    model: "plain",
    prompt: "Once upon a time",
    max_tokens: 6,
    temperature: 0,
    stream: true,
  });
  let text = "";
  for await (const ch of s) text += ch.choices[0]?.text ?? "";
  assertEquals(text, r.choices[0].text);
});

itest("embeddings: floats and base64 agree, and are normalised", async () => {
  const c = client();
  const asFloat = await c.embeddings.create({
    model: "plain",
    input: ["hello world", "the sea"],
    encoding_format: "float",
  });
  const asB64 = await c.embeddings.create({ model: "plain", input: ["hello world", "the sea"] });
  assertEquals(asFloat.data.length, 2);
  const v = asFloat.data[0].embedding;
  assert(Math.abs(Math.sqrt(v.reduce((s, x) => s + x * x, 0)) - 1) < 1e-3);
  const w = asB64.data[0].embedding;
  assertEquals(w.length, v.length);
  assert(w.every((x, i) => Math.abs(x - v[i]) < 1e-6));
  assert(asFloat.usage.prompt_tokens > 0);
});

itest("models list: /v1/models (loaded) and /models (store)", async () => {
  const list = await client().models.list();
  const ids = list.data.map((m) => m.id).sort();
  assertEquals(ids, ["bracket", "plain", "think"]);
  const all = await get("/models");
  const byId = Object.fromEntries(
    (all.json.models as { id: string; state: string; reasoning: unknown }[]).map((m) => [m.id, m]),
  );
  assertEquals(byId.llama3.state, "available");
  assertEquals(byId.think.state, "loaded");
  assertEquals(byId.think.reasoning, { open: "<think>", close: "</think>" });
  assertEquals(byId.bracket.reasoning, { open: "[THINK]", close: "[/THINK]" });
  assertEquals(byId.plain.reasoning, null);
});

itest("models show: the chat template's text and the GGUF's facts, loaded or not", async () => {
  for (const [id, fixture] of [["think", FIXTURES.think], ["llama3", FIXTURES.llama3]] as const) {
    const header = await readGgufHeader(await ensureFixture(fixture));
    const r = await post("/models/show", { model: id });
    assertEquals(r.status, 200);
    assertEquals(r.json.chat_template, metaString(header, "tokenizer.chat_template"));
    const { architecture, parameter_count, quantization } = r.json.model;
    assertEquals([architecture, parameter_count, quantization], [
      "llama",
      header.parameterCount,
      "F16", // general.file_type 1
    ]);
    assertEquals(r.json.model.state, id === "think" ? "loaded" : "available");
  }
  const missing = await post("/models/show", { model: "nope" });
  assertEquals([missing.status, missing.json.error.code], [404, "model_not_found"]);
  const bad = await post("/models/show", { name: "think" });
  assertEquals([bad.status, bad.json.error.param], [400, "model"]);
});

itest(
  "embeddings truncate (an extension): cut to the embedding context, else refused",
  async () => {
    const long = "the quick brown fox jumps over the lazy dog ".repeat(100);
    const refused = await post("/v1/embeddings", { model: "plain", input: long });
    assertEquals([refused.status, refused.json.error.code], [400, "context_length_exceeded"]);
    const cut = await post("/v1/embeddings", {
      model: "plain",
      input: [long, "hi"],
      truncate: true,
    });
    assertEquals(cut.status, 200);
    const hi = await post("/v1/embeddings", { model: "plain", input: "hi" });
    // The long one counts the 512 tokens of context it was cut to.
    assertEquals(cut.json.usage.prompt_tokens, 512 + hi.json.usage.prompt_tokens);
    assertEquals(cut.json.data.length, 2);
  },
);

itest("token ids: out of the vocabulary or past int32 → 400 naming the field", async () => {
  const emb = (input: unknown) => ["/v1/embeddings", { model: "plain", input }] as const;
  const cmpl = (extra: Record<string, unknown>) =>
    ["/v1/completions", { model: "plain", prompt: "hi", max_tokens: 3, ...extra }] as const;
  const chat = (logit_bias: Record<string, number>) =>
    ["/v1/chat/completions", {
      model: "plain",
      messages: user("hi"),
      max_tokens: 3,
      logit_bias,
    }] as const;
  // 99999999: llama_decode failed on it (a 500); 2**32 + n wrapped to token n (a 200);
  // 99999 in logit_bias was silently ignored (a 200).
  const cases: [readonly [string, unknown], string][] = [
    [emb([99999999]), "input[0]"],
    [emb([[1, 2], [99999999]]), "input[1][0]"],
    [emb([4294967297]), "input[0]"],
    [cmpl({ prompt: [4294967297] }), "prompt[0]"],
    [cmpl({ prompt: [1, 99999] }), "prompt[1]"],
    [cmpl({ prompt: [[1], [99999]] }), "prompt[1][0]"],
    [cmpl({ logit_bias: { "99999": 100 } }), "logit_bias.99999"],
    [chat({ "4294967596": 100 }), "logit_bias.4294967596"],
    [chat({ "99999": 100 }), "logit_bias.99999"],
  ];
  for (const [[path, body], param] of cases) {
    const r = await post(path, body);
    assertEquals([r.status, r.json.error?.param], [400, param], JSON.stringify(body));
    assertEquals(r.json.error.type, "invalid_request_error");
    assert(r.json.error.message.startsWith(`${param}: `), r.json.error.message);
  }
  // In-vocabulary ids are still served.
  assertEquals((await post(...emb([[1, 2], [3]]))).status, 200);
  assertEquals((await post(...cmpl({ prompt: [1, 2], logit_bias: { "5": 1 } }))).status, 200);
});

itest("lifecycle: load → loaded → unload → available, memory returned", async () => {
  const before = await get("/health");
  const cpu0 = before.json.devices[0];
  const loaded = await post("/models/load", { model: "llama3" });
  assertEquals(loaded.status, 200);
  assertEquals(loaded.json.model.state, "loaded");
  const again = await post("/models/load", { model: "llama3" });
  assertEquals(again.status, 200, "load is idempotent");
  const during = await get("/health");
  const cpu1 = during.json.devices[0];
  assertEquals(cpu1.memory_used_bytes, cpu0.memory_used_bytes + loaded.json.model.memory_bytes);
  const r = await client().chat.completions.create({
    model: "llama3",
    messages: user("hi"),
    max_tokens: 3,
  });
  assertEquals(r.usage?.completion_tokens, 3);
  const un = await post("/models/unload", { model: "llama3" });
  assertEquals(un.status, 200);
  const after = await get("/health");
  assertEquals(after.json.devices[0].memory_used_bytes, cpu0.memory_used_bytes);
  const models = await get("/models");
  const entry = (models.json.models as { id: string; state: string }[]).find((m) =>
    m.id === "llama3"
  );
  assertEquals(entry?.state, "available");
  const gone = await post("/v1/chat/completions", { model: "llama3", messages: user("hi") });
  assertEquals(gone.status, 404);
  assertEquals(gone.json.error.code, "model_not_found");
});

itest("a load that cannot fit the budget is refused up front with the numbers", async () => {
  const r = await post("/models/load", { model: "bench", context: 4096, slots: 64 });
  assertEquals(r.status, 507);
  assertEquals(r.json.error.code, "insufficient_memory");
  assertMatch(
    r.json.error.message,
    /^bench: context × slots as configured: needs \d+ MiB \(weights \d+ MiB, compute \d+ MiB, KV cache 2048 MiB for 64 slots × 4096 tokens at f16\) but CPU can give \d+ MiB of 400 MiB/,
  );
  const h = await get("/health");
  assert(
    !(h.json.models as { id: string }[]).some((m) => m.id === "llama3"),
    "nothing half-loaded",
  );
});

itest("a client disconnect mid-stream frees the slot", async () => {
  const ac = new AbortController();
  const res = await fetch(`${neuron.url}/v1/chat/completions`, {
    method: "POST",
    signal: ac.signal,
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({
      model: "plain",
      messages: user("never stop"),
      max_tokens: 100000,
      stream: true,
    }),
  });
  const reader = res.body!.getReader();
  for (let i = 0; i < 5; i++) await reader.read();
  ac.abort();
  await reader.cancel().catch(() => {});
  let inFlight = -1;
  for (let i = 0; i < 50; i++) {
    const h = await get("/health");
    inFlight = (h.json.models as { id: string; in_flight: number }[])
      .find((m) => m.id === "plain")!.in_flight;
    if (inFlight === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assertEquals(inFlight, 0);
});

itest("a client hanging up before a whole answer stops its generation", async () => {
  const generated = async () => {
    const res = await fetch(`${neuron.url}/metrics`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const m = /neuron_generation_tokens_total\{model="plain"\} (\d+)/.exec(await res.text());
    return Number(m?.[1] ?? 0);
  };
  const before = await generated();
  // Ban the end-of-generation tokens: only the context's end or the hang-up can stop it.
  const eog = await post("/tokenize", {
    model: "plain",
    prompt: "</s><|im_end|>",
    return_tokens: true,
  });
  const ban = Object.fromEntries((eog.json.tokens as number[]).slice(-2).map((t) => [t, -100]));
  const ac = new AbortController();
  const pending = fetch(`${neuron.url}/v1/chat/completions`, {
    method: "POST",
    signal: ac.signal,
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({
      model: "plain",
      messages: user("long answer"),
      max_tokens: 100000,
      logit_bias: ban,
    }),
  }).catch(() => null);
  const inFlight = async () =>
    ((await get("/health")).json.models as { id: string; in_flight: number }[])
      .find((m) => m.id === "plain")!.in_flight;
  for (let i = 0; i < 50 && await inFlight() === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assertEquals(await inFlight(), 1, "the generation started");
  ac.abort();
  await pending;
  let n = 1;
  for (let i = 0; i < 50 && (n = await inFlight()) !== 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assertEquals(n, 0);
  // Left alone it would have run to the context's end (~500 tokens).
  const spent = await generated() - before;
  assert(spent < 300, `generated ${spent} tokens after the client left`);
});

itest("auth: token required except on /health and /version", async () => {
  const open = await fetch(`${neuron.url}/health`);
  assertEquals(open.status, 200);
  await open.body?.cancel();
  const v = await fetch(`${neuron.url}/version`);
  assertEquals((await v.json()).name, "neuron");
  const no = await fetch(`${neuron.url}/models`);
  assertEquals(no.status, 401);
  // OpenAI's words for a bad key (not Anthropic's authentication_error).
  const refused = (await no.json()).error;
  assertEquals(refused.code, "invalid_api_key");
  assertEquals(refused.type, "invalid_request_error");
  const wrong = await fetch(`${neuron.url}/v1/models`, {
    headers: { authorization: "Bearer nope" },
  });
  assertEquals(wrong.status, 401);
  await wrong.body?.cancel();
});

itest("metrics: Prometheus text with the neuron's families", async () => {
  const res = await fetch(`${neuron.url}/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const text = await res.text();
  for (
    const family of [
      "neuron_queue_depth",
      "neuron_active_slots",
      "neuron_kv_cells_used",
      "neuron_prompt_tokens_total",
      "neuron_generation_tokens_total",
      "neuron_device_memory_bytes",
    ]
  ) assertMatch(text, new RegExp(`^${family}`, "m"));
  assertMatch(text, /neuron_generation_tokens_total\{model="plain"\} [1-9]/);
});

neuron.stopAtEnd("neuron shuts down cleanly on SIGTERM (exit 0)", "SIGTERM");
