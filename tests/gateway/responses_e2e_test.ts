/**
 * The OpenAI Responses API end to end: the official `openai` client (`client.responses.*`)
 * against the gateway (`cli/cortex.ts serve`) in front of a real neuron process serving the
 * `<think>` and marker-less ChatML fixtures (Hermes-style tool calls).
 *
 * Random weights: answers are made deterministic with `temperature: 0`, the neuron's own
 * tool-call grammar (`tool_choice: "required"`), or a GBNF grammar the shim between gateway
 * and neuron adds to the translated request (see e2e_support/grammar_shim.ts).
 */

import OpenAI from "openai";
import type {
  Response as OResponse,
  ResponseFunctionToolCall,
  ResponseInputItem,
  ResponseOutputMessage,
  ResponseReasoningItem,
  ResponseStreamEvent,
} from "openai/resources/responses/responses";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import {
  markerTokens,
  type Stack,
  startStack,
  thinkThenAnswer,
  withGrammar,
} from "./e2e_support/mod.ts";

const CONTEXT = 1024;
let stack: Stack | undefined;

async function up(): Promise<Stack> {
  stack ??= await startStack({
    models: {
      think: await ensureFixture(FIXTURES.think),
      plain: await ensureFixture(FIXTURES.plain),
    },
    // A Hermes tool prompt is long in a tiny vocabulary (~400 tokens for one tool).
    context: CONTEXT,
  });
  return stack;
}

function client(): OpenAI {
  return new OpenAI({ baseURL: `${stack!.url}/v1`, apiKey: "unused", maxRetries: 0 });
}

/** Test steps share one stack; the last test stops it. */
function itest(name: string, fn: (s: Stack) => Promise<void>) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => fn(await up()),
  });
}

type ChatBody = Record<string, unknown> & { messages: Record<string, unknown>[] };
/** The last chat body the gateway sent the neuron. */
const lastChat = (s: Stack) => s.chats.at(-1) as ChatBody;

const textOf = (r: OResponse) =>
  r.output.filter((i): i is ResponseOutputMessage => i.type === "message")
    .flatMap((m) => m.content).map((c) => c.type === "output_text" ? c.text : "").join("");

/** The API error a call rejects with (the test fails if it resolves). */
async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof OpenAI.APIError, `expected an APIError, got ${e}`);
    return e;
  }
  throw new Error("expected the call to fail");
}

const WEATHER: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "get_weather",
  description: "The weather in a city.",
  parameters: {
    type: "object",
    properties: { city: { type: "string", enum: ["Oslo", "Paris"] } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};

itest("responses.create: a completed message with usage", async (s) => {
  const r = await client().responses.create(
    { model: "plain", input: "hello there", temperature: 0, max_output_tokens: 16 },
    withGrammar(`root ::= "General Kenobi."`),
  );
  assertEquals(r.object, "response");
  assertMatch(r.id, /^resp_/);
  assertEquals(r.status, "completed");
  assertEquals(r.model, "plain");
  assertEquals(r.output.map((i) => i.type), ["message"]);
  assertEquals(textOf(r), "General Kenobi.");
  assertEquals(r.output_text, "General Kenobi.");
  const count = await s.countTokens("plain", [{ role: "user", content: "hello there" }]);
  assertEquals(r.usage?.input_tokens, count);
  assert((r.usage?.output_tokens ?? 0) > 0);
  assertEquals(r.usage?.total_tokens, count + r.usage!.output_tokens);
});

itest("responses.stream: numbered events, a valid final response, response.completed", async () => {
  const stream = client().responses.stream(
    { model: "plain", input: "hello there", temperature: 0, max_output_tokens: 16 },
    withGrammar(`root ::= "General Kenobi."`),
  );
  const events: ResponseStreamEvent[] = [];
  for await (const ev of stream) events.push(ev);
  const final = await stream.finalResponse();
  assertEquals(events.map((e) => e.sequence_number), events.map((_, i) => i));
  assertEquals(events[0].type, "response.created");
  assertEquals(events.at(-1)?.type, "response.completed");
  assertEquals(events.filter((e) => e.type.startsWith("response.completed")).length, 1);
  const deltas = events.flatMap((e) => e.type === "response.output_text.delta" ? [e.delta] : []);
  assert(deltas.length >= 2, "the text arrives in several deltas");
  assertEquals(deltas.join(""), "General Kenobi.");
  assertEquals(final.status, "completed");
  assertEquals(final.output_text, "General Kenobi.");
  const done = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
  assertEquals(done.response.id, final.id);
  assertEquals(done.response.output_text ?? textOf(done.response), final.output_text);
  assertEquals(done.response.output.map((i) => i.id), final.output.map((i) => i.id));
  assert((final.usage?.input_tokens ?? 0) > 0);
});

itest("max_output_tokens: response.incomplete, streamed and not", async () => {
  const params = {
    model: "plain",
    input: "hello there",
    temperature: 0,
    max_output_tokens: 4,
  } as const;
  const g = withGrammar(`root ::= [a-z]{30,40}`);
  const r = await client().responses.create(params, g);
  assertEquals(r.status, "incomplete");
  assertEquals(r.incomplete_details, { reason: "max_output_tokens" });
  assertEquals(r.usage?.output_tokens, 4);
  assertEquals((r.output[0] as ResponseOutputMessage).status, "incomplete");
  const stream = client().responses.stream(params, g);
  const events: ResponseStreamEvent[] = [];
  for await (const ev of stream) events.push(ev);
  assertEquals(events.map((e) => e.sequence_number), events.map((_, i) => i));
  const last = events.at(-1)!;
  assertEquals(last.type, "response.incomplete");
  const final = (last as OpenAI.Responses.ResponseIncompleteEvent).response;
  assertEquals(final.incomplete_details, { reason: "max_output_tokens" });
  assertEquals(final.output_text ?? textOf(final), textOf(r));
});

itest("max_output_tokens beyond the model's limit is clamped to it, not refused", async (s) => {
  const r = await client().responses.create(
    { model: "plain", input: "hello there", temperature: 0, max_output_tokens: 1_000_000 },
    withGrammar(`root ::= "ok"`),
  );
  assertEquals(r.status, "completed");
  assertEquals(r.output_text, "ok");
  assertEquals(r.max_output_tokens, 1_000_000, "the response echoes the request");
  assertEquals(lastChat(s).max_tokens, CONTEXT);
});

itest("function call round trip: a forced call, its output, then a message", async (s) => {
  const c = client();
  const input: ResponseInputItem[] = [{ role: "user", content: "Weather in Oslo?" }];
  const first = await c.responses.create({
    model: "plain",
    input,
    tools: [WEATHER],
    tool_choice: "required",
    parallel_tool_calls: false,
    temperature: 0,
    max_output_tokens: 300,
  });
  assertEquals(first.status, "completed");
  const calls = first.output.filter((i): i is ResponseFunctionToolCall =>
    i.type === "function_call"
  );
  assertEquals(calls.length, 1);
  const call = calls[0];
  assertEquals(call.name, "get_weather");
  assert(call.call_id.length > 0);
  const args = JSON.parse(call.arguments);
  assert(["Oslo", "Paris"].includes(args.city), `arguments ${call.arguments}`);

  const second = await c.responses.create({
    model: "plain",
    input: [
      ...input,
      ...first.output as ResponseInputItem[],
      { type: "function_call_output", call_id: call.call_id, output: '{"sky":"clear"}' },
    ],
    tools: [WEATHER],
    temperature: 0,
    max_output_tokens: 16,
  }, withGrammar(`root ::= "Clear skies."`));
  assertEquals(second.status, "completed");
  assertEquals(second.output.map((i) => i.type), ["message"]);
  assertEquals(second.output_text, "Clear skies.");
  // The neuron saw the call and its result, paired by id.
  const sent = lastChat(s).messages;
  const assistant = sent.find((m) => m.role === "assistant") as {
    tool_calls: { id: string; function: { name: string; arguments: string } }[];
  };
  assertEquals(assistant.tool_calls.map((t) => [t.id, t.function.name]), [[
    call.call_id,
    "get_weather",
  ]]);
  assertEquals(sent.at(-1), {
    role: "tool",
    tool_call_id: call.call_id,
    content: '{"sky":"clear"}',
  });
});

itest("a named function choice streams the call's arguments", async () => {
  const stream = client().responses.stream({
    model: "plain",
    input: "Weather in Paris?",
    tools: [WEATHER],
    tool_choice: { type: "function", name: "get_weather" },
    parallel_tool_calls: false,
    temperature: 0,
    max_output_tokens: 300,
  });
  const events: ResponseStreamEvent[] = [];
  for await (const ev of stream) events.push(ev);
  const final = await stream.finalResponse();
  assertEquals(events.map((e) => e.sequence_number), events.map((_, i) => i));
  assertEquals(events.at(-1)?.type, "response.completed");
  const calls = (final.output as OResponse["output"]).filter((i): i is ResponseFunctionToolCall =>
    i.type === "function_call"
  );
  assertEquals(calls.length, 1, "one call: parallel calls are off");
  assertEquals(final.output.length, 1, "nothing but the call");
  for (const call of calls) {
    assertEquals(call.name, "get_weather");
    assert(["Oslo", "Paris"].includes(JSON.parse(call.arguments).city), call.arguments);
    const deltas = events.flatMap((e) =>
      e.type === "response.function_call_arguments.delta" && e.item_id === call.id ? [e.delta] : []
    );
    assertEquals(deltas.join(""), call.arguments);
    const done = events.find((e) =>
      e.type === "response.function_call_arguments.done" && e.item_id === call.id
    );
    assertEquals(done && "arguments" in done && done.arguments, call.arguments);
  }
});

itest("previous_response_id: the second turn's prompt holds the first; retrieve", async (s) => {
  const c = client();
  const first = await c.responses.create(
    { model: "plain", input: "Name a sea.", temperature: 0, max_output_tokens: 32 },
    withGrammar(`root ::= "The Baltic."`),
  );
  const second = await c.responses.create(
    {
      model: "plain",
      input: "Another one?",
      previous_response_id: first.id,
      temperature: 0,
      max_output_tokens: 32,
    },
    withGrammar(`root ::= "The North Sea."`),
  );
  assertEquals(second.previous_response_id, first.id);
  assertEquals(lastChat(s).messages, [
    { role: "user", content: "Name a sea." },
    { role: "assistant", content: "The Baltic." },
    { role: "user", content: "Another one?" },
  ]);
  const expected = await s.countTokens("plain", [
    { role: "user", content: "Name a sea." },
    { role: "assistant", content: "The Baltic." },
    { role: "user", content: "Another one?" },
  ]);
  assertEquals(second.usage?.input_tokens, expected);
  assert(expected > first.usage!.input_tokens + first.usage!.output_tokens);

  const got = await c.responses.retrieve(first.id);
  assertEquals(got.id, first.id);
  assertEquals(got.status, "completed");
  assertEquals(got.output, first.output);
  assertEquals(got.usage, first.usage);
  // A third turn walks the whole chain.
  await c.responses.create({
    model: "plain",
    input: "And a third?",
    previous_response_id: second.id,
    temperature: 0,
    max_output_tokens: 2,
  });
  assertEquals(lastChat(s).messages.map((m) => m.content), [
    "Name a sea.",
    "The Baltic.",
    "Another one?",
    "The North Sea.",
    "And a third?",
  ]);
});

itest("store: false is not retrievable and cannot be continued", async () => {
  const c = client();
  const r = await c.responses.create({
    model: "plain",
    input: "forget me",
    store: false,
    temperature: 0,
    max_output_tokens: 2,
  });
  assertEquals((r as OResponse & { store?: boolean }).store, false);
  const e = await apiError(c.responses.retrieve(r.id));
  assert(e instanceof OpenAI.NotFoundError, `got ${e.constructor.name}`);
  assertEquals(e.status, 404);
  const cont = await apiError(
    c.responses.create({ model: "plain", input: "again", previous_response_id: r.id }),
  );
  assert(cont instanceof OpenAI.NotFoundError, `got ${cont.constructor.name}`);
  assertEquals(cont.status, 404);
  assertEquals(cont.param, "previous_response_id");
});

itest("developer and system messages and instructions: one leading system prompt", async (s) => {
  const c = client();
  const r = await c.responses.create({
    model: "plain",
    instructions: "Be brief.",
    input: [
      { role: "developer", content: "Answer in English." },
      { role: "user", content: [{ type: "input_text", text: "hello there" }] },
    ],
    temperature: 0,
    max_output_tokens: 2,
  });
  const system = "Be brief.\n\nAnswer in English.";
  assertEquals(lastChat(s).messages, [
    { role: "system", content: system },
    { role: "user", content: "hello there" },
  ]);
  const count = await s.countTokens("plain", [
    { role: "system", content: system },
    { role: "user", content: "hello there" },
  ]);
  assertEquals(r.usage?.input_tokens, count);
});

itest("reasoning effort on the think fixture: a reasoning item, then the message", async (s) => {
  const { close } = await markerTokens(s, "think");
  const params = {
    model: "think",
    input: "think please",
    reasoning: { effort: "medium" },
    temperature: 0,
    max_output_tokens: 32,
  } as const;
  const r = await client().responses.create(params, withGrammar(thinkThenAnswer(close)));
  assertEquals(lastChat(s).chat_template_kwargs, { enable_thinking: true });
  assertEquals(lastChat(s).reasoning_effort, "medium");
  assertEquals(r.output.map((i) => i.type), ["reasoning", "message"]);
  const reasoning = r.output[0] as ResponseReasoningItem;
  assertMatch(reasoning.summary.map((p) => p.text).join(""), /^[a-z]{4,8}$/);
  assertMatch(r.output_text, /^ [a-z]{4,8}$/);
  assert((r.usage?.output_tokens_details.reasoning_tokens ?? 0) >= 4);
  assertEquals(r.reasoning?.effort, "medium");

  const stream = client().responses.stream(params, withGrammar(thinkThenAnswer(close)));
  let summary = "";
  for await (const ev of stream) {
    if (ev.type === "response.reasoning_summary_text.delta") summary += ev.delta;
  }
  const final = await stream.finalResponse();
  assertEquals(final.output.map((i) => i.type), ["reasoning", "message"]);
  assertEquals(summary, (final.output[0] as ResponseReasoningItem).summary[0].text);
  assertMatch(summary, /^[a-z]{4,8}$/);
  // Without a reasoning request the template closes the block: no reasoning item.
  const plainAnswer = await client().responses.create(
    { model: "think", input: "think please", temperature: 0, max_output_tokens: 8 },
    withGrammar(`root ::= [a-z]{3,6}`),
  );
  assertEquals(lastChat(s).chat_template_kwargs, { enable_thinking: false });
  assertEquals(plainAnswer.output.map((i) => i.type), ["message"]);
});

itest("bad requests: each with its status, error class and param", async () => {
  const c = client();
  const cases: [string, () => Promise<unknown>, number, string | null, RegExp][] = [
    [
      "unknown previous_response_id",
      () => c.responses.create({ model: "plain", input: "x", previous_response_id: "resp_nope" }),
      404,
      "previous_response_id",
      /resp_nope/,
    ],
    [
      "unknown model",
      () => c.responses.create({ model: "no-such-model", input: "x" }),
      404,
      "model",
      /no-such-model/,
    ],
    [
      "an input item of unknown type",
      () =>
        c.responses.create({
          model: "plain",
          input: [{ type: "bogus_item", text: "x" } as unknown as ResponseInputItem],
        }),
      400,
      "input[0].type",
      /input\[0\]/,
    ],
    [
      "a function_call_output answering no call",
      () =>
        c.responses.create({
          model: "plain",
          input: [{ type: "function_call_output", call_id: "call_missing", output: "x" }],
        }),
      400,
      "input[0].call_id",
      /call_missing/,
    ],
    [
      "image input",
      () =>
        c.responses.create({
          model: "plain",
          input: [{
            role: "user",
            content: [
              { type: "input_text", text: "what is this?" },
              { type: "input_image", image_url: "data:image/png;base64,AAAA", detail: "auto" },
            ],
          }],
        }),
      400,
      "input[0].content[1]",
      /image/,
    ],
  ];
  for (const [what, call, status, param, mentions] of cases) {
    const e = await apiError(call());
    const cls = status === 404 ? OpenAI.NotFoundError : OpenAI.BadRequestError;
    assert(e instanceof cls, `${what}: got ${e.constructor.name} ${e.message}`);
    assertEquals(e.status, status, what);
    assertEquals(e.param, param, what);
    assertMatch(e.message, mentions, what);
  }
});

Deno.test({
  name: "stack stops cleanly",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await stack?.stop();
    stack = undefined;
  },
});
