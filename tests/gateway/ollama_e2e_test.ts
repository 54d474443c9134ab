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

itest("ollama: tags, show, ps, version", async () => {
  const c = client();
  const names = (await c.list()).models.map((m) => m.name).sort();
  assertEquals(names, ["emb", "plain", "spare", "think"]);
  const tag = (await c.list()).models.find((m) => m.name === "plain")!;
  assert(tag.size > 0, "size from the store");
  assertEquals(tag.details.format, "gguf");
  const show = await c.show({ model: "think" });
  assertEquals(
    (show.model_info as unknown as Record<string, unknown>)["cortex.context_length"],
    2048,
  );
  assert(show.capabilities.includes("thinking"), `${show.capabilities}`);
  assert((await c.show({ model: "plain" })).capabilities.includes("tools"));
  const ps = await c.ps();
  assert(ps.models.some((m) => m.name === "think"), "loaded models listed");
  assertMatch((await c.version()).version, /^\d+\.\d+\.\d+$/);
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
    keep_alive: "10m",
  });
  assertEquals(keep.status, 400);
  assertMatch(keep.body.error, /keep_alive "10m" is not supported/);
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

itest("ollama: keep_alive 0 unloads the model after the request", async (s) => {
  const c = client();
  const r = await c.generate({
    model: "spare",
    prompt: "hi",
    stream: false,
    keep_alive: 0,
    options: opts,
  });
  assert(r.done);
  await waitFor(
    "spare unloaded",
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
