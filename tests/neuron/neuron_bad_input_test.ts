/**
 * Bad input to a real neuron: each case gets the right status and the
 * OpenAI error envelope, with `param` naming the field at fault.
 */

import { assertEquals, assertMatch } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import { makeStore, type Spawned, spawnServer, writeConfig } from "../helpers/processes.ts";

let server: Spawned | undefined;

async function start(): Promise<Spawned> {
  if (server) return server;
  const store = await makeStore({ plain: await ensureFixture(FIXTURES.plain) });
  const config = await writeConfig(
    "neuron.toml",
    `listen = "127.0.0.1:0"
model_dirs = ["${store}"]
slots = 1
context = 256
n_threads = 1
max_body_bytes = 65536
`,
  );
  server = await spawnServer("cli/neuron.ts", config);
  const r = await fetch(`${server.url}/models/load`, {
    method: "POST",
    body: JSON.stringify({ model: "plain" }),
  });
  await r.body?.cancel();
  return server;
}

interface Case {
  name: string;
  path?: string;
  method?: string;
  body?: unknown;
  raw?: string;
  status: number;
  param?: string | null;
  message?: RegExp;
  /** OpenAI's `error.type`; every 4xx here is `invalid_request_error` unless said. */
  type?: string;
  code?: string;
}

const msgs = [{ role: "user", content: "hi" }];
const chat = (extra: Record<string, unknown>) => ({ model: "plain", messages: msgs, ...extra });

/** An object schema `n` levels of `properties` deep: 1000 overflowed the converter's stack. */
function deepSchema(n: number): Record<string, unknown> {
  let s: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < n; i++) s = { type: "object", properties: { a: s }, required: ["a"] };
  return s;
}
const tool = (parameters: unknown, name = "f") => ({
  type: "function",
  function: { name, parameters },
});

const CASES: Case[] = [
  { name: "malformed JSON", raw: "{not json", status: 400, message: /not valid JSON/ },
  { name: "empty body", raw: "", status: 400, message: /empty/ },
  { name: "missing model", body: { messages: msgs }, status: 400, param: "model" },
  { name: "model of wrong type", body: chat({ model: 42 }), status: 400, param: "model" },
  {
    name: "unknown model",
    body: chat({ model: "nope" }),
    status: 404,
    param: "model",
    type: "invalid_request_error",
    code: "model_not_found",
  },
  { name: "messages missing", body: { model: "plain" }, status: 400, param: "messages" },
  { name: "messages empty", body: chat({ messages: [] }), status: 400, param: "messages" },
  {
    name: "unknown role",
    body: chat({ messages: [{ role: "wizard", content: "x" }] }),
    status: 400,
    param: "messages[0].role",
  },
  {
    name: "content of wrong type",
    body: chat({ messages: [{ role: "user", content: 5 }] }),
    status: 400,
    param: "messages[0].content",
  },
  { name: "n > 1", body: chat({ n: 2 }), status: 400, param: "n" },
  { name: "negative max_tokens", body: chat({ max_tokens: -5 }), status: 400, param: "max_tokens" },
  {
    name: "temperature too high",
    body: chat({ temperature: 3 }),
    status: 400,
    param: "temperature",
  },
  { name: "top_p above 1", body: chat({ top_p: 1.5 }), status: 400, param: "top_p" },
  {
    name: "presence_penalty out of range",
    body: chat({ presence_penalty: 5 }),
    status: 400,
    param: "presence_penalty",
  },
  { name: "stop of wrong type", body: chat({ stop: 7 }), status: 400, param: "stop" },
  {
    name: "logit_bias bad key",
    body: chat({ logit_bias: { abc: 1 } }),
    status: 400,
    param: "logit_bias.abc",
  },
  {
    name: "image content refused",
    body: chat({
      messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:x" } }] }],
    }),
    status: 400,
    param: "messages[0].content[0]",
  },
  {
    name: "tool message without tool_call_id",
    body: chat({ messages: [{ role: "tool", content: "x" }] }),
    status: 400,
    param: "messages[0].tool_call_id",
  },
  {
    name: "prompt longer than the context",
    body: chat({ messages: [{ role: "user", content: "word ".repeat(400) }] }),
    status: 400,
    param: "messages",
    code: "context_length_exceeded",
    message:
      /^This model's maximum context length is 256 tokens\. However, your messages resulted in \d+ tokens\. Please reduce the length of the messages\. The model was trained for 4096 tokens; this neuron gives each request 256 \(1 slots, f16 KV cache\)\. To raise it/,
  },
  {
    name: "completions: prompt longer than the context",
    path: "/v1/completions",
    body: { model: "plain", prompt: "word ".repeat(400) },
    status: 400,
    param: "prompt",
    code: "context_length_exceeded",
    message:
      /^This model's maximum context length is 256 tokens\. However, your prompt resulted in/,
  },
  {
    name: "response_format schema nested 1000 levels deep",
    body: chat({
      response_format: {
        type: "json_schema",
        json_schema: { name: "x", schema: deepSchema(1000) },
      },
    }),
    status: 400,
    param: "response_format.json_schema.schema",
    message: /nested more than 64 levels deep/,
  },
  {
    name: "tool parameters nested 1000 levels deep (tool_choice auto)",
    body: chat({ tools: [tool(deepSchema(1000))] }),
    status: 400,
    param: "tools[0].function.parameters",
    message: /nested more than 64 levels deep/,
  },
  {
    name: "tool parameters nested 1000 levels deep (tool_choice required)",
    body: chat({
      tools: [tool({ type: "object" }, "g"), tool(deepSchema(1000))],
      tool_choice: "required",
    }),
    status: 400,
    param: "tools[1].function.parameters",
    message: /nested more than 64 levels deep/,
  },
  {
    name: "chat_template_kwargs nested 1000 levels deep",
    body: chat({ chat_template_kwargs: { x: deepSchema(1000) } }),
    status: 400,
    param: "chat_template_kwargs",
  },
  {
    name: "tool-call arguments nested 5000 levels deep",
    body: chat({
      messages: [...msgs, {
        role: "assistant",
        tool_calls: [{
          id: "c1",
          type: "function",
          function: { name: "f", arguments: "[".repeat(5000) + "]".repeat(5000) },
        }],
      }, { role: "tool", tool_call_id: "c1", content: "ok" }],
    }),
    status: 400,
    param: "messages[1].tool_calls[0].function.arguments",
  },
  {
    name: "tokenize: chat_template_kwargs nested 1000 levels deep",
    path: "/tokenize",
    body: { model: "plain", messages: msgs, chat_template_kwargs: { x: deepSchema(1000) } },
    status: 400,
    param: "chat_template_kwargs",
  },
  {
    name: "tool parameters of an unknown type",
    body: chat({ tools: [tool({ type: "banana" })] }),
    status: 400,
    param: "tools[0].function.parameters",
    message: /unknown type "banana"/,
  },
  {
    name: "tool parameter property of an unknown type",
    body: chat({ tools: [tool({ type: "object", properties: { x: { type: "text" } } })] }),
    status: 400,
    param: "tools[0].function.parameters",
    message: /unknown type "text" at \/properties\/x/,
  },
  {
    name: "json_schema without a schema",
    body: chat({ response_format: { type: "json_schema", json_schema: { name: "x" } } }),
    status: 400,
    param: "response_format.json_schema.schema",
  },
  {
    name: "tool_choice required without tools",
    body: chat({ tool_choice: "required" }),
    status: 400,
    param: "tool_choice",
  },
  {
    name: "tool_choice naming a function without tools",
    body: chat({ tool_choice: { type: "function", function: { name: "f" } }, tools: [] }),
    status: 400,
    param: "tool_choice",
  },
  {
    name: "logprobs: true",
    body: chat({ logprobs: true }),
    status: 400,
    param: "logprobs",
    code: "unsupported_parameter",
  },
  {
    name: "logprobs of wrong type",
    body: chat({ logprobs: "yes" }),
    status: 400,
    param: "logprobs",
  },
  {
    name: "top_logprobs",
    body: chat({ top_logprobs: 3 }),
    status: 400,
    param: "top_logprobs",
  },
  {
    name: "modalities audio",
    body: chat({ modalities: ["text", "audio"] }),
    status: 400,
    param: "modalities",
  },
  {
    name: "audio",
    body: chat({ audio: { voice: "alloy", format: "wav" } }),
    status: 400,
    param: "audio",
  },
  {
    name: "prediction",
    body: chat({ prediction: { type: "content", content: "x" } }),
    status: 400,
    param: "prediction",
  },
  {
    name: "web_search_options",
    body: chat({ web_search_options: {} }),
    status: 400,
    param: "web_search_options",
  },
  {
    name: "stream_options without stream",
    body: chat({ stream_options: { include_usage: true } }),
    status: 400,
    param: "stream_options",
  },
  {
    name: "completions: logprobs 0",
    path: "/v1/completions",
    body: { model: "plain", prompt: "a", logprobs: 0 },
    status: 400,
    param: "logprobs",
  },
  { name: "bad grammar", body: chat({ grammar: "root ::= (" }), status: 400, param: "grammar" },
  {
    name: "tool_choice names a missing tool",
    body: chat({
      tools: [{ type: "function", function: { name: "a", parameters: { type: "object" } } }],
      tool_choice: { type: "function", function: { name: "b" } },
    }),
    status: 400,
    param: "tool_choice.function.name",
  },
  {
    name: "response_format with an unknown type",
    body: chat({ response_format: { type: "xml" } }),
    status: 400,
    param: "response_format.type",
  },
  { name: "body too large", raw: JSON.stringify(chat({ pad: "x".repeat(70000) })), status: 413 },
  {
    name: "completions: suffix unsupported",
    path: "/v1/completions",
    body: { model: "plain", prompt: "a", suffix: "b" },
    status: 400,
    param: "suffix",
  },
  {
    name: "completions: prompt missing",
    path: "/v1/completions",
    body: { model: "plain" },
    status: 400,
    param: "prompt",
  },
  {
    name: "embeddings on a model loaded without them",
    path: "/v1/embeddings",
    body: { model: "plain", input: "x" },
    status: 400,
    param: "model",
  },
  {
    name: "embeddings: input of wrong type",
    path: "/v1/embeddings",
    body: { model: "plain", input: 5 },
    status: 400,
    param: "input",
  },
  {
    name: "load: id escaping the store",
    path: "/models/load",
    body: { model: "evil", source: "../../etc/passwd" },
    status: 400,
  },
  {
    name: "load: absolute path",
    path: "/models/load",
    body: { model: "evil", source: "/etc/passwd" },
    status: 400,
  },
  { name: "load: missing file", path: "/models/load", body: { model: "ghost" }, status: 404 },
  {
    name: "load: unknown field",
    path: "/models/load",
    body: { model: "plain", turbo: true },
    status: 400,
  },
  { name: "unload: not loaded", path: "/models/unload", body: { model: "ghost" }, status: 404 },
  { name: "unknown route", path: "/v2/everything", body: {}, status: 404 },
  { name: "wrong method", path: "/v1/chat/completions", method: "GET", status: 405 },
];

for (const c of CASES) {
  Deno.test({
    name: `bad input: ${c.name} → ${c.status}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const s = await start();
      const res = await fetch(`${s.url}${c.path ?? "/v1/chat/completions"}`, {
        method: c.method ?? "POST",
        headers: { "content-type": "application/json" },
        body: c.method === "GET" ? undefined : c.raw ?? JSON.stringify(c.body),
      });
      const body = await res.json();
      assertEquals(res.status, c.status, JSON.stringify(body));
      assertEquals(typeof body.error?.message, "string", "OpenAI error envelope");
      assertEquals("type" in body.error && "param" in body.error && "code" in body.error, true);
      if (c.param !== undefined) assertEquals(body.error.param, c.param);
      if (c.message) assertMatch(body.error.message, c.message);
      if (c.code) assertEquals(body.error.code, c.code);
      const type = c.type ?? (c.status >= 500 ? "server_error" : "invalid_request_error");
      assertEquals(body.error.type, type);
    },
  });
}

Deno.test({
  name: "bad input: the neuron still serves after all of it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const s = await start();
    // logprobs false and top_logprobs 0 ask for nothing: still served.
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify(
        chat({ max_tokens: 2, logprobs: false, top_logprobs: 0, modalities: ["text"] }),
      ),
    });
    assertEquals(res.status, 200);
    assertEquals((await res.json()).usage.completion_tokens, 2);
    assertEquals(await s.stop(), 0);
    server = undefined;
  },
});

Deno.test("a memory budget for a device this neuron does not have: exit 2, naming file and key", async () => {
  const store = await Deno.makeTempDir({ prefix: "cortex-store-" });
  const config = await writeConfig(
    "neuron.toml",
    `listen = "127.0.0.1:0"\nmodel_dirs = ["${store}"]\nmemory_budget_mb = { cuda0 = 100 }\n`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/neuron.ts", "serve", "--config", config],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 2, stderr);
  assertMatch(
    stderr,
    /neuron\.toml: memory_budget_mb\.cuda0: expected one of this neuron's devices \(CPU\), found "cuda0"/,
  );
  await Deno.remove(store, { recursive: true });
  await Deno.remove(config.slice(0, config.lastIndexOf("/")), { recursive: true });
});
