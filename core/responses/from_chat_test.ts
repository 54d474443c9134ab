import assert from "node:assert/strict";
import OpenAI from "openai";
import { HttpError } from "../errors.ts";
import type { ChatCompletion } from "../openai/chat.ts";
import { chatToResponse, type IdSource, randomId, type ResponseContext } from "./from_chat.ts";
import { parseResponsesRequest } from "./request.ts";
import { type ResponseObject, ResponseObjectSchema } from "./response.ts";

/** Deterministic ids: `msg_1`, `fc_2`, ... in minting order. */
function counter(): IdSource {
  let n = 0;
  return (prefix) => `${prefix}_${++n}`;
}

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);

function ctx(body: Record<string, unknown> = {}, extra: Partial<ResponseContext> = {}) {
  return {
    request: parseResponsesRequest({ model: "qwen3", input: "hi", ...body }),
    id: "resp_test",
    now: () => NOW,
    newId: counter(),
    ...extra,
  };
}

function completion(
  message: Record<string, unknown>,
  finish_reason = "stop",
  usage: Record<string, unknown> | null = {
    prompt_tokens: 40,
    completion_tokens: 12,
    total_tokens: 52,
  },
): ChatCompletion {
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "Qwen3-8B-Q4_K_M.gguf",
    choices: [{
      index: 0,
      message: { role: "assistant", content: null, ...message },
      finish_reason: finish_reason as ChatCompletion["choices"][0]["finish_reason"],
    }],
    ...(usage ? { usage: usage as ChatCompletion["usage"] } : {}),
  };
}

/** Translates and checks the result against our own schema of the Response object. */
function translate(c: ChatCompletion, context = ctx()): ResponseObject {
  const r = chatToResponse(c, context);
  const check = ResponseObjectSchema.safeParse(r);
  assert.ok(check.success, JSON.stringify(!check.success && check.error.issues));
  return r;
}

/** The Response as the official SDK hands it to a client (`responses.create`, non-streaming). */
async function viaSdk(response: ResponseObject) {
  const client = new OpenAI({
    apiKey: "k",
    baseURL: "http://cortex.invalid/v1",
    maxRetries: 0,
    fetch: () => Promise.resolve(Response.json(response)),
  });
  return await client.responses.create({ model: "qwen3", input: "hi" });
}

Deno.test("text: a completed Response with one message and the request echoed", () => {
  const r = translate(completion({ content: "Hello!" }));
  assert.deepEqual(r, {
    id: "resp_test",
    object: "response",
    created_at: NOW / 1000,
    status: "completed",
    background: false,
    completed_at: NOW / 1000,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model: "qwen3",
    output: [{
      type: "message",
      id: "msg_1",
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: "Hello!", annotations: [] }],
    }],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: null,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: null,
    truncation: "disabled",
    usage: {
      input_tokens: 40,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 12,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 52,
    },
    metadata: {},
  });
});

Deno.test("the request's settings are echoed; dropped tools are reported", () => {
  const r = translate(
    completion({ content: "ok" }),
    ctx({
      instructions: "Be terse.",
      max_output_tokens: 300,
      temperature: 0.3,
      top_p: 0.8,
      parallel_tool_calls: false,
      previous_response_id: "resp_prev",
      metadata: { session: "s1" },
      store: false,
      user: "u-1",
      truncation: "auto",
      text: { format: { type: "json_object" }, verbosity: "low" },
      reasoning: { effort: "low", summary: "auto" },
      tools: [
        { type: "function", name: "f", parameters: { type: "object" } },
        { type: "web_search" },
      ],
      tool_choice: { type: "function", name: "f" },
    }, {
      droppedTools: [{ type: "web_search", name: "web_search" }],
      model: "qwen3:8b",
    }),
  );
  assert.equal(r.instructions, "Be terse.");
  assert.equal(r.max_output_tokens, 300);
  assert.equal(r.temperature, 0.3);
  assert.equal(r.top_p, 0.8);
  assert.equal(r.parallel_tool_calls, false);
  assert.equal(r.previous_response_id, "resp_prev");
  assert.deepEqual(r.metadata, { session: "s1" });
  assert.equal(r.store, false);
  assert.equal(r.user, "u-1");
  assert.equal(r.truncation, "auto");
  assert.equal(r.model, "qwen3:8b");
  assert.deepEqual(r.text, { format: { type: "json_object" }, verbosity: "low" });
  assert.deepEqual(r.reasoning, { effort: "low", summary: "auto" });
  assert.deepEqual(r.tools, [{
    type: "function",
    name: "f",
    description: null,
    parameters: { type: "object" },
    strict: null,
  }]);
  assert.deepEqual(r.tool_choice, { type: "function", name: "f" });
  assert.deepEqual(r.cortex_dropped_tools, [{ type: "web_search", name: "web_search" }]);
  assert.ok(!("cortex_dropped_tools" in translate(completion({ content: "ok" }))));
});

Deno.test("reasoning + text: a reasoning item with the text as summary, then the message", () => {
  const r = translate(
    completion({ reasoning_content: "The user greets me.", content: "Hi there!" }, "stop", {
      prompt_tokens: 30,
      completion_tokens: 9,
      total_tokens: 39,
      completion_tokens_details: { reasoning_tokens: 5 },
      prompt_tokens_details: { cached_tokens: 24 },
    }),
  );
  assert.deepEqual(r.output, [
    {
      type: "reasoning",
      id: "rs_1",
      summary: [{ type: "summary_text", text: "The user greets me." }],
      status: "completed",
    },
    {
      type: "message",
      id: "msg_2",
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: "Hi there!", annotations: [] }],
    },
  ]);
  assert.deepEqual(r.usage, {
    input_tokens: 30,
    input_tokens_details: { cached_tokens: 24 },
    output_tokens: 9,
    output_tokens_details: { reasoning_tokens: 5 },
    total_tokens: 39,
  });
});

Deno.test("function calls: one function_call item each, after any text", () => {
  const r = translate(
    completion({
      content: "Checking both.",
      tool_calls: [
        {
          id: "call_a",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
        },
        {
          id: "",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Bergen"}' },
        },
      ],
    }, "tool_calls"),
  );
  assert.equal(r.status, "completed");
  assert.deepEqual(r.output.slice(1), [
    {
      type: "function_call",
      id: "fc_2",
      call_id: "call_a",
      name: "get_weather",
      arguments: '{"city":"Oslo"}',
      status: "completed",
    },
    {
      type: "function_call",
      id: "fc_3",
      // The upstream sent no id: one is minted, since the client must answer the call by it.
      call_id: "call_4",
      name: "get_weather",
      arguments: '{"city":"Bergen"}',
      status: "completed",
    },
  ]);
});

Deno.test("finish_reason length → incomplete (max_output_tokens), the cut item incomplete", () => {
  const r = translate(completion({ content: "a long answ" }, "length"));
  assert.equal(r.status, "incomplete");
  assert.deepEqual(r.incomplete_details, { reason: "max_output_tokens" });
  assert.equal(r.completed_at, null);
  assert.equal(r.output[0].status, "incomplete");

  const cutInReasoning = translate(completion({ reasoning_content: "Let me think ab" }, "length"));
  assert.deepEqual(cutInReasoning.output.map((i) => [i.type, i.status]), [
    ["reasoning", "incomplete"],
  ]);

  const filtered = translate(completion({ content: "" }, "content_filter"));
  assert.equal(filtered.status, "incomplete");
  assert.deepEqual(filtered.incomplete_details, { reason: "content_filter" });
  assert.deepEqual(filtered.output, []);
});

Deno.test("a refusal becomes a refusal part; no usage upstream means usage null", () => {
  const r = translate(
    completion({ content: null, refusal: "I can't help with that." }, "stop", null),
  );
  assert.deepEqual(r.output, [{
    type: "message",
    id: "msg_1",
    status: "completed",
    role: "assistant",
    content: [{ type: "refusal", refusal: "I can't help with that." }],
  }]);
  assert.equal(r.usage, null);
});

Deno.test("a completion without choices is the upstream's fault (502)", () => {
  const c = { ...completion({ content: "x" }), choices: [] };
  assert.throws(() => chatToResponse(c, ctx()), (e) => e instanceof HttpError && e.status === 502);
});

Deno.test("ids default to fresh OpenAI-style ones", () => {
  const r = chatToResponse(
    completion({ reasoning_content: "r", content: "x", tool_calls: [] }),
    { request: parseResponsesRequest({ model: "m", input: "hi" }) },
  );
  assert.match(r.id, /^resp_[0-9a-f]{32}$/);
  assert.match(r.output[0].id, /^rs_[0-9a-f]{32}$/);
  assert.match(r.output[1].id, /^msg_[0-9a-f]{32}$/);
  assert.notEqual(randomId("fc"), randomId("fc"));
});

Deno.test("the official SDK accepts the Response and derives output_text from it", async () => {
  const r = translate(
    completion({
      reasoning_content: "think",
      content: "Checking.",
      tool_calls: [{ id: "call_a", type: "function", function: { name: "f", arguments: "{}" } }],
    }, "tool_calls"),
    ctx({}, { droppedTools: [{ type: "web_search", name: "web_search" }] }),
  );
  const sdk = await viaSdk(r);
  assert.equal(sdk.id, "resp_test");
  assert.equal(sdk.output_text, "Checking.");
  assert.equal(sdk.status, "completed");
  assert.deepEqual(sdk.output.map((i) => i.type), ["reasoning", "message", "function_call"]);
  const call = sdk.output[2];
  assert.ok(call.type === "function_call");
  assert.equal(call.call_id, "call_a");
  assert.equal(sdk.usage?.total_tokens, 52);
  // The extension field passes through the SDK untouched.
  assert.deepEqual((sdk as unknown as Record<string, unknown>).cortex_dropped_tools, [
    { type: "web_search", name: "web_search" },
  ]);
});
