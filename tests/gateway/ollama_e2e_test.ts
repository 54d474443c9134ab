/**
 * The Ollama API end to end: the official `ollama` npm client against the gateway
 * (`cli/cortex.ts serve`) in front of a real neuron process serving tiny fixtures, and,
 * for a stream cut mid-way, an in-process gateway in front of the stand-in neuron.
 *
 * The fixtures have random weights: answers are bounded with `num_predict`, tool calls are
 * forced (`tool_choice`, a cortex extension: Ollama has none), a `format` schema is
 * enforced by the neuron's grammar, and reasoning is shaped by the grammar shim.
 */

import { Ollama } from "ollama";
import { makeValidator } from "../../core/grammar/testing/validator.ts";
import { parameterSize } from "../../core/ollama/mod.ts";
import { metaString, readGgufHeader } from "../../neuron/store/gguf_header.ts";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import { gatewayOver, serveStandIn } from "../helpers/stand_in_neuron.ts";
import { markerTokens, type Stack, startStack, thinkThenAnswer } from "./e2e_support/mod.ts";
import { GRAMMAR_HEADER } from "./e2e_support/mod.ts";
import { waitFor } from "./harness.ts";

const KEY = "e2e-ollama-key";
const NEURON_TOKEN = "e2e-neuron-token"; // e2e_support/stack.ts
let stack: Stack | undefined;

async function up(): Promise<Stack> {
  if (stack) return stack;
  const plain = await ensureFixture(FIXTURES.plain);
  stack = await startStack({
    models: {
      think: await ensureFixture(FIXTURES.think),
      plain,
      spare: await ensureFixture(FIXTURES.llama3),
      emb: plain,
    },
    apiKeys: [KEY],
    context: 2048,
    // The evictor, which honours keep_alive, runs at this pace.
    pollInterval: "250ms",
  });
  // `emb` serves embeddings: reload it with them on.
  const neuronPost = (path: string, body: unknown) =>
    fetch(`${stack!.neuron.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${NEURON_TOKEN}` },
      body: JSON.stringify(body),
    }).then((r) => r.body?.cancel());
  await neuronPost("/models/unload", { model: "emb" });
  await neuronPost("/models/load", { model: "emb", embeddings: true });
  return stack;
}

function client(headers: Record<string, string> = {}): Ollama {
  return new Ollama({ host: stack!.url, headers: { authorization: `Bearer ${KEY}`, ...headers } });
}

function itest(name: string, fn: (s: Stack) => Promise<void>) {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn: async () => fn(await up()) });
}

const lastChat = (s: Stack) => s.chats.at(-1) as Record<string, unknown>;
const opts = { temperature: 0, num_predict: 8 };

function assertCounters(r: Record<string, unknown>) {
  for (
    const k of [
      "total_duration",
      "load_duration",
      "prompt_eval_count",
      "prompt_eval_duration",
      "eval_count",
      "eval_duration",
    ]
  ) assert(typeof r[k] === "number" && (r[k] as number) >= 0, `${k}: ${r[k]}`);
  assert((r.prompt_eval_count as number) > 0, "prompt tokens counted");
  assert((r.eval_count as number) > 0, "generated tokens counted");
  assert((r.total_duration as number) >= (r.eval_duration as number), "total covers eval");
}

itest("ollama: chat, not streamed: one answer with counters", async (s) => {
  const r = await client().chat({
    model: "plain",
    messages: [{ role: "user", content: "hello" }],
    stream: false,
    options: { ...opts, top_k: 5, top_p: 0.9, seed: 7, repeat_penalty: 1.1, stop: ["zz"] },
  });
  assertEquals(r.model, "plain");
  assertEquals(r.message.role, "assistant");
  assert(r.done);
  assertMatch(r.done_reason, /^(stop|length)$/);
  assertCounters(r as unknown as Record<string, unknown>);
  const sent = lastChat(s);
  assertEquals([sent.temperature, sent.top_k, sent.top_p, sent.seed], [0, 5, 0.9, 7]);
  assertEquals([sent.repeat_penalty, sent.max_tokens, sent.stop], [1.1, 8, ["zz"]]);
});

itest("ollama: chat streamed: NDJSON pieces, then done with counters", async () => {
  const parts = [];
  for await (
    const p of await client().chat({
      model: "plain:latest",
      messages: [{ role: "user", content: "hello" }],
      stream: true,
      options: opts,
    })
  ) parts.push(p);
  const last = parts.at(-1)!;
  assert(last.done, "the last line is done");
  assert(parts.slice(0, -1).every((p) => !p.done), "only the last line is done");
  assert(parts.length >= 2, "text came in pieces before the end");
  assertCounters(last as unknown as Record<string, unknown>);
});

itest("ollama: generate, streamed and whole", async (s) => {
  const whole = await client().generate({
    model: "plain",
    prompt: "once upon",
    system: "be brief",
    stream: false,
    options: opts,
  });
  assert(whole.done && typeof whole.response === "string");
  assertCounters(whole as unknown as Record<string, unknown>);
  const sent = lastChat(s).messages as { role: string; content: string }[];
  assertEquals(sent, [{ role: "system", content: "be brief" }, {
    role: "user",
    content: "once upon",
  }]);
  let text = "";
  let done = false;
  for await (
    const p of await client().generate({
      model: "plain",
      prompt: "hi",
      stream: true,
      options: opts,
    })
  ) {
    text += p.response;
    done = p.done;
  }
  assert(done && text.length > 0, "streamed text and a final line");
});

itest("ollama: embed and the older embeddings", async () => {
  const r = await client().embed({ model: "emb", input: ["hello world", "the sea"] });
  assertEquals(r.embeddings.length, 2);
  assert(r.embeddings[0].length > 0);
  const norm = Math.hypot(...r.embeddings[0]);
  assert(Math.abs(norm - 1) < 1e-3, `normalised (${norm})`);
  const old = await client().embeddings({ model: "emb", prompt: "hello world" });
  assertEquals(old.embedding.length, r.embeddings[0].length);
  assert(Math.abs(old.embedding[0] - r.embeddings[0][0]) < 1e-5);
});

itest("ollama: embed truncate cuts to the context in force; truncate false refuses", async (s) => {
  // Far more tokens than the 2048 of context the stack loads models with.
  const long = "the quick brown fox jumps over the lazy dog ".repeat(400);
  assert((await s.tokenIds("emb", long)).length > 2048, "the input is over the context");
  const cut = await client().embed({ model: "emb", input: ["hello world", long] });
  assertEquals(cut.embeddings.length, 2);
  assert(Math.abs(Math.hypot(...cut.embeddings[1]) - 1) < 1e-3, "a whole vector for the cut one");
  const short = await client().embed({ model: "emb", input: "hello world" });
  // The long input counted only up to the context; the short one in full, as before.
  assertEquals(cut.prompt_eval_count, short.prompt_eval_count + 2048);
  const refused = await raw(s, "POST", "/api/embed", {
    model: "emb",
    input: ["hello world", long],
    truncate: false,
  });
  assertEquals(refused.status, 400);
  assertMatch(refused.body.error, /^input length exceeds maximum context length: .*2048/);
  try {
    await client().embed({ model: "emb", input: long, truncate: false });
    throw new Error("an input over the context should be refused");
  } catch (e) {
    assertEquals((e as { status_code?: number }).status_code, 400);
  }
  const fits = await client().embed({ model: "emb", input: "hello world", truncate: false });
  const drift = Math.max(...fits.embeddings[0].map((x, i) => Math.abs(x - short.embeddings[0][i])));
  assert(drift < 1e-6, `the same vector (${drift})`);
});

itest("ollama: tags, show, ps, version", async () => {
  const c = client();
  const names = (await c.list()).models.map((m) => m.name).sort();
  assertEquals(names, ["emb", "plain", "spare", "think"]);
  const tag = (await c.list()).models.find((m) => m.name === "plain")!;
  assert(tag.size > 0, "size from the store");
  // Family, size and quantization as the fixture's GGUF header says them.
  const header = await readGgufHeader(await ensureFixture(FIXTURES.plain));
  assert(header.parameterCount > 0);
  assertEquals(tag.details, {
    parent_model: "",
    format: "gguf",
    family: "llama",
    families: ["llama"],
    parameter_size: parameterSize(header.parameterCount),
    quantization_level: "F16",
  });
  const show = await c.show({ model: "think" });
  const info = show.model_info as unknown as Record<string, unknown>;
  assertEquals(info["general.architecture"], "llama");
  assertEquals(info["llama.context_length"], 2048);
  assert(show.capabilities.includes("thinking"), `${show.capabilities}`);
  // The GGUF's own chat template, as the neuron renders prompts with it.
  const thinkHeader = await readGgufHeader(await ensureFixture(FIXTURES.think));
  const template = metaString(thinkHeader, "tokenizer.chat_template");
  assert(template && template.length > 0, "the fixture has a template");
  assertEquals(show.template, template);
  assertMatch(show.parameters, /^num_ctx +2048$/m);
  assert((await c.show({ model: "plain" })).capabilities.includes("tools"));
  const ps = await c.ps();
  const think = ps.models.find((m) => m.name === "think");
  assert(think, "loaded models listed");
  assertEquals(think.details.quantization_level, "F16");
  // No [eviction] idle_ttl and no keep_alive: never expires, written as Ollama writes it.
  assert(new Date(think.expires_at).getUTCFullYear() > 2300, `${think.expires_at}`);
  assertMatch((await c.version()).version, /^\d+\.\d+\.\d+$/);
});

itest("ollama: keep_alive sets the model's idle unload, which ps reports", async () => {
  const c = client();
  const expiry = async (model: string) =>
    new Date((await c.ps()).models.find((m) => m.name === model)!.expires_at).getTime();
  const before = Date.now();
  await c.generate({ model: "plain", prompt: "hi", keep_alive: "1h", options: opts });
  const after = Date.now();
  // An hour after the request's last use, which the gateway stamped between the two.
  const at = await expiry("plain");
  assert(at >= before + 3_600_000 && at <= after + 3_600_000, `${new Date(at).toISOString()}`);
  await c.chat({
    model: "plain",
    messages: [{ role: "user", content: "hi" }],
    keep_alive: -1,
    options: opts,
  });
  assert(new Date(await expiry("plain")).getUTCFullYear() > 2300, "negative: never");
});

const WEATHER = {
  type: "object",
  properties: {
    city: { type: "string", enum: ["Paris", "London", "Tokyo"] },
    unit: { type: "string", enum: ["celsius", "fahrenheit"] },
  },
  required: ["city"],
  additionalProperties: false,
};

itest("ollama: a forced tool call carries object arguments that validate", async (s) => {
  const tools = [{
    type: "function",
    function: { name: "get_weather", description: "the weather", parameters: WEATHER },
  }];
  const r = await client().chat(
    {
      model: "plain",
      messages: [{ role: "user", content: "weather in Paris?" }],
      tools,
      stream: false,
      options: { temperature: 0, num_predict: 128 },
      tool_choice: "required",
    } as Parameters<Ollama["chat"]>[0] & { stream: false },
  );
  assertEquals(lastChat(s).tool_choice, "required");
  const calls = r.message.tool_calls ?? [];
  assertEquals(calls.length >= 1, true, JSON.stringify(r.message));
  assertEquals(calls[0].function.name, "get_weather");
  const args = calls[0].function.arguments;
  assert(typeof args === "object" && args !== null, "arguments are an object");
  assert(makeValidator(WEATHER)(args), JSON.stringify(args));
  // A follow-up turn with the call and its result translates back.
  await client().chat({
    model: "plain",
    messages: [
      { role: "user", content: "weather in Paris?" },
      { role: "assistant", content: "", tool_calls: calls },
      { role: "tool", content: "sunny", tool_name: "get_weather" },
    ],
    stream: false,
    options: opts,
  });
  const sent = lastChat(s).messages as Record<string, unknown>[];
  const call = (sent[1].tool_calls as { id: string; function: { arguments: string } }[])[0];
  assertEquals(JSON.parse(call.function.arguments), args);
  assertEquals(sent[2], { role: "tool", tool_call_id: call.id, content: "sunny" });
});

itest("ollama: format with a JSON schema answers JSON that validates", async (s) => {
  const schema = {
    type: "object",
    properties: { color: { type: "string", enum: ["red", "blue"] } },
    required: ["color"],
    additionalProperties: false,
  };
  const r = await client().chat({
    model: "plain",
    messages: [{ role: "user", content: "a color" }],
    format: schema,
    stream: false,
    options: { temperature: 0, num_predict: 64 },
  });
  assertEquals((lastChat(s).response_format as { type: string }).type, "json_schema");
  assert(makeValidator(schema)(JSON.parse(r.message.content)), r.message.content);
});

itest("ollama: think routes reasoning to `thinking`; think false leaves it out", async (s) => {
  const { close } = await markerTokens(s, "think");
  const c = client({ [GRAMMAR_HEADER]: thinkThenAnswer(close) });
  const r = await c.chat({
    model: "think",
    messages: [{ role: "user", content: "hello" }],
    think: true,
    stream: false,
    options: { temperature: 0, num_predict: 32 },
  });
  assertEquals(lastChat(s).chat_template_kwargs, { enable_thinking: true });
  assertMatch(r.message.thinking ?? "", /^[a-z]{4,8}$/);
  assertMatch(r.message.content, /^ [a-z]{4,8}$/);
  let thinking = "";
  for await (
    const p of await c.generate({
      model: "think",
      prompt: "hello",
      think: true,
      stream: true,
      options: { temperature: 0, num_predict: 32 },
    })
  ) thinking += p.thinking ?? "";
  assertMatch(thinking, /^[a-z]{4,8}$/);
  const off = await client().chat({
    model: "think",
    messages: [{ role: "user", content: "hello" }],
    think: false,
    stream: false,
    options: opts,
  });
  assertEquals(lastChat(s).chat_template_kwargs, { enable_thinking: false });
  assertEquals(off.message.thinking, undefined);
});

/** The status and `{"error"}` body of a raw call. */
async function raw(s: Stack, method: string, path: string, body?: unknown, key = KEY) {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

itest("ollama: errors in Ollama's shape, with their status", async (s) => {
  const unknown = await raw(s, "POST", "/api/chat", { model: "nope", messages: [] });
  assertEquals(unknown.status, 404);
  assertMatch(unknown.body.error, /model nope does not exist/);
  const images = await raw(s, "POST", "/api/chat", {
    model: "plain",
    messages: [{ role: "user", content: "look", images: ["aGk="] }],
  });
  assertEquals(images.status, 400);
  assertMatch(images.body.error, /images are not supported/);
  const ctx = await raw(s, "POST", "/api/generate", {
    model: "plain",
    prompt: "hi",
    options: { num_ctx: 999999 },
  });
  assertEquals(ctx.status, 400);
  assertMatch(ctx.body.error, /num_ctx 999999 is larger than the context in force .*2048/);
  const keep = await raw(s, "POST", "/api/generate", {
    model: "plain",
    prompt: "hi",
    keep_alive: "soon",
  });
  assertEquals(keep.status, 400);
  assertMatch(keep.body.error, /keep_alive "soon" is not a duration/);
  const auth = await raw(s, "GET", "/api/tags", undefined, "wrong");
  assertEquals(auth.status, 401);
  assert(typeof auth.body.error === "string");
  for (const path of ["/api/pull", "/api/push", "/api/create", "/api/copy"]) {
    const r = await raw(s, "POST", path, { model: "x" });
    assertEquals(r.status, 501, path);
    assertMatch(r.body.error, /cortex pull/);
  }
  const del = await raw(s, "DELETE", "/api/delete", { model: "x" });
  assertEquals(del.status, 501);
  try {
    await client().pull({ model: "llama3" });
    throw new Error("pull should fail");
  } catch (e) {
    assertMatch((e as Error).message, /cortex pull/);
  }
});

/** Whether the neuron itself (not the gateway's view) holds `model` loaded. */
async function neuronHolds(s: Stack, model: string): Promise<boolean> {
  const res = await fetch(`${s.neuron.url}/models`, {
    headers: { authorization: `Bearer ${NEURON_TOKEN}` },
  });
  const { models } = await res.json() as { models: { id: string; state: string }[] };
  return models.some((m) => m.id === model && m.state === "loaded");
}

itest("ollama: a short keep_alive unloads the model once it is idle that long", async (s) => {
  const c = client();
  assert(await neuronHolds(s, "spare"), "loaded to begin with");
  await c.generate({ model: "spare", prompt: "hi", keep_alive: "1s", options: opts });
  await waitFor("spare unloaded by its keep_alive", async () => !(await neuronHolds(s, "spare")));
  // The gateway's view follows once its refresh after the unload has run.
  await waitFor(
    "spare gone from ps",
    async () => !(await c.ps()).models.some((m) => m.name === "spare"),
  );
  assert(await neuronHolds(s, "plain"), "models without one stay");
});

itest("ollama: nothing to say unloads with keep_alive 0 (ollama stop), else loads", async (s) => {
  const c = client();
  const stopped = await c.generate({ model: "spare", prompt: "", keep_alive: 0 });
  assertEquals([stopped.done, stopped.done_reason], [true, "unload"]);
  await waitFor("spare unloaded by ollama stop", async () => !(await neuronHolds(s, "spare")));
  // What `ollama run` sends first: no messages, the model loads and nothing is generated.
  const sent = s.chats.length;
  const before = Date.now();
  const loaded = await c.chat({ model: "spare", messages: [], keep_alive: "1h" });
  const after = Date.now();
  assertEquals([loaded.done, loaded.done_reason, loaded.message.content], [true, "load", ""]);
  assert(await neuronHolds(s, "spare"), "loaded");
  assertEquals(s.chats.length, sent, "nothing generated");
  const listed = (await c.ps()).models.find((m) => m.name === "spare");
  const at = new Date(listed!.expires_at).getTime();
  assert(at >= before + 3_600_000 && at <= after + 3_600_000, "its keep_alive from the load");
});

itest("ollama: keep_alive 0 unloads the model after the request", async (s) => {
  const c = client();
  // Answers (loaded by the test before, or now), then unloads.
  const r = await c.generate({
    model: "spare",
    prompt: "hi",
    stream: false,
    keep_alive: 0,
    options: opts,
  });
  assert(r.done);
  assert(r.eval_count > 0, "it answered before it went");
  await waitFor("spare unloaded", async () => !(await neuronHolds(s, "spare")));
  await waitFor(
    "spare gone from ps",
    async () => !(await c.ps()).models.some((m) => m.name === "spare"),
  );
  await s.stop();
});

Deno.test({
  name: "ollama: a cut upstream stream ends with an error line",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const standIn = serveStandIn({ model: "m" });
    const gw = await gatewayOver({ "stand-in": standIn });
    try {
      const c = new Ollama({ host: gw.url, headers: { "x-stand-in": "die" } });
      await waitFor("the stand-in's model", async () => (await c.list()).models.length > 0);
      // The client throws on the error line, after the text that came before the cut.
      let pieces = 0;
      let failure = "";
      try {
        for await (
          const p of await c.chat({
            model: "m",
            messages: [{ role: "user", content: "hi" }],
            stream: true,
          })
        ) {
          assert(!p.done, "no done line after a cut");
          pieces++;
        }
      } catch (e) {
        failure = (e as Error).message;
      }
      assert(pieces >= 2, `text came before the cut (${pieces})`);
      assertMatch(failure, /upstream stream failed/);
      // On the wire: NDJSON whose last line is Ollama's `{"error": ...}`.
      const res = await fetch(`${gw.url}/api/generate`, {
        method: "POST",
        headers: { "x-stand-in": "die" },
        body: JSON.stringify({ model: "m", prompt: "hi" }),
      });
      assertEquals(res.status, 200);
      assertEquals(res.headers.get("content-type"), "application/x-ndjson");
      const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
      assert(lines.length >= 2);
      assertEquals(Object.keys(lines.at(-1)), ["error"]);
      assert(lines.slice(0, -1).every((l) => l.done === false && typeof l.response === "string"));
    } finally {
      await gw.shutdown();
      await standIn.close();
    }
  },
});
