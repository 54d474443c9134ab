import assert from "node:assert/strict";
import { HttpError } from "../errors.ts";
import { ChatCompletionRequestSchema } from "../openai/chat.ts";
import { type InputItem, parseResponsesRequest } from "./request.ts";
import { responsesToChat, thinkingEnabled, type TranslateOptions } from "./to_chat.ts";

const base = { model: "qwen3-8b", input: "hi" };

/** Parses `body` as the gateway does, translates it, and checks the neuron would accept it. */
function translate(body: Record<string, unknown>, options?: TranslateOptions) {
  const t = responsesToChat(parseResponsesRequest(body), options);
  const check = ChatCompletionRequestSchema.safeParse(t.request);
  assert.ok(check.success, JSON.stringify(!check.success && check.error.issues));
  return t;
}

function refusal(body: Record<string, unknown>, options?: TranslateOptions): HttpError {
  try {
    translate(body, options);
  } catch (e) {
    assert.ok(e instanceof HttpError, String(e));
    return e;
  }
  assert.fail(`expected ${JSON.stringify(body)} to be refused`);
}

Deno.test("a string input: one user message, thinking off, nothing else invented", () => {
  const { request, droppedTools } = translate(base);
  assert.deepEqual(request, {
    model: "qwen3-8b",
    messages: [{ role: "user", content: "hi" }],
    chat_template_kwargs: { enable_thinking: false },
  });
  assert.deepEqual(droppedTools, []);
});

Deno.test("instructions, system and developer messages merge into one leading system message", () => {
  const { request } = translate({
    ...base,
    instructions: "Be terse.",
    input: [
      { role: "developer", content: "Use metric units." },
      { role: "user", content: "weather?" },
      { type: "message", role: "system", content: [{ type: "input_text", text: "No emoji." }] },
      { role: "assistant", content: "12 °C." },
      {
        role: "developer",
        content: [{ type: "input_text", text: "A" }, { type: "input_text", text: "B" }],
      },
      { role: "user", content: "thanks" },
    ],
  });
  assert.deepEqual(request.messages, [
    { role: "system", content: "Be terse.\n\nUse metric units.\n\nNo emoji.\n\nA\n\nB" },
    { role: "user", content: "weather?" },
    { role: "assistant", content: "12 °C." },
    { role: "user", content: "thanks" },
  ]);
});

Deno.test("content parts: user text parts join, assistant output_text pieces concatenate", () => {
  const { request } = translate({
    ...base,
    input: [
      {
        role: "user",
        content: [{ type: "input_text", text: "first" }, { type: "input_text", text: "second" }],
      },
      {
        type: "message",
        role: "assistant",
        id: "msg_1",
        status: "completed",
        content: [
          { type: "output_text", text: "Hel", annotations: [] },
          { type: "output_text", text: "lo", annotations: [] },
        ],
      },
      { role: "user", content: [{ type: "input_text", text: "again" }] },
    ],
  });
  assert.deepEqual(request.messages, [
    { role: "user", content: "first\n\nsecond" },
    { role: "assistant", content: "Hello" },
    { role: "user", content: "again" },
  ]);
});

const TOOLS = [{
  type: "function",
  name: "get_weather",
  description: "Current weather",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: true,
}];

/** A tool round trip as a client sends it back with store: false (Codex CLI's way). */
const ROUND_TRIP = [
  { role: "user", content: "Weather in Oslo and Bergen?" },
  {
    type: "reasoning",
    id: "rs_1",
    summary: [{ type: "summary_text", text: "Two cities," }, {
      type: "summary_text",
      text: "two calls.",
    }],
    encrypted_content: null,
  },
  { type: "message", role: "assistant", content: [{ type: "output_text", text: "Checking." }] },
  {
    type: "function_call",
    id: "fc_1",
    call_id: "call_a",
    name: "get_weather",
    arguments: '{"city":"Oslo"}',
  },
  {
    type: "function_call",
    id: "fc_2",
    call_id: "call_b",
    name: "get_weather",
    arguments: '{"city":"Bergen"}',
  },
  { type: "function_call_output", call_id: "call_a", output: "12 °C" },
  {
    type: "function_call_output",
    call_id: "call_b",
    output: [{ type: "input_text", text: "9 °C," }, { type: "input_text", text: "rain" }],
  },
];

Deno.test("function_call + function_call_output round trip: one assistant turn, tool messages", () => {
  const { request } = translate({ ...base, input: ROUND_TRIP, tools: TOOLS });
  assert.deepEqual(request.messages, [
    { role: "user", content: "Weather in Oslo and Bergen?" },
    {
      role: "assistant",
      content: "Checking.",
      reasoning_content: "Two cities,\n\ntwo calls.",
      tool_calls: [
        {
          id: "call_a",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
        },
        {
          id: "call_b",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Bergen"}' },
        },
      ],
    },
    { role: "tool", tool_call_id: "call_a", content: "12 °C" },
    { role: "tool", tool_call_id: "call_b", content: "9 °C,\n\nrain" },
  ]);
  assert.deepEqual(request.tools, [{
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather",
      parameters: TOOLS[0].parameters,
      strict: true,
    },
  }]);
});

Deno.test("reasoning items: summary text, else reasoning_text content; a new turn after a call", () => {
  const { request } = translate({
    ...base,
    input: [
      { role: "user", content: "go" },
      {
        type: "reasoning",
        id: "rs_1",
        summary: [],
        content: [{ type: "reasoning_text", text: "raw thoughts" }],
      },
      { type: "function_call", call_id: "c1", name: "f", arguments: "{}" },
      // Reasoning after a call (no output between) belongs to the next assistant message.
      { type: "reasoning", summary: [{ type: "summary_text", text: "then more" }] },
      { role: "assistant", content: "done" },
      { type: "function_call_output", call_id: "c1", output: "ok" },
      // An opaque reasoning item (encrypted only) opens a turn with no reasoning text.
      { type: "reasoning", id: "rs_x", summary: [], encrypted_content: "gAAAA..." },
      { role: "assistant", content: "final" },
    ],
  });
  assert.deepEqual(request.messages, [
    { role: "user", content: "go" },
    {
      role: "assistant",
      content: "",
      reasoning_content: "raw thoughts",
      tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }],
    },
    { role: "assistant", content: "done", reasoning_content: "then more" },
    { role: "tool", tool_call_id: "c1", content: "ok" },
    { role: "assistant", content: "final" },
  ]);
});

Deno.test("a function_call_output must answer an earlier function_call", () => {
  const err = refusal({
    ...base,
    input: [
      { role: "user", content: "x" },
      { type: "function_call_output", call_id: "call_zz", output: "?" },
    ],
  });
  assert.equal(err.status, 400);
  assert.equal(err.param, "input[1].call_id");
  assert.equal(
    err.message,
    'input[1].call_id: no function_call with call_id "call_zz" precedes this output',
  );
});

Deno.test("history from previous_response_id comes first; its calls satisfy new outputs", () => {
  const history: InputItem[] = [
    { type: "message", role: "user", content: "Weather in Oslo?" },
    {
      type: "function_call",
      id: "fc_1",
      status: "completed",
      call_id: "call_a",
      name: "get_weather",
      arguments: '{"city":"Oslo"}',
    },
  ];
  const { request } = translate({
    ...base,
    instructions: "Be terse.",
    previous_response_id: "resp_1",
    input: [{ type: "function_call_output", call_id: "call_a", output: "12 °C" }],
    tools: TOOLS,
  }, { history });
  assert.deepEqual(request.messages, [
    { role: "system", content: "Be terse." },
    { role: "user", content: "Weather in Oslo?" },
    {
      role: "assistant",
      content: "",
      tool_calls: [{
        id: "call_a",
        type: "function",
        function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
      }],
    },
    { role: "tool", tool_call_id: "call_a", content: "12 °C" },
  ]);
  // A continuation may send no input at all.
  const only = translate({ model: "m", previous_response_id: "resp_1" }, { history });
  assert.equal(only.request.messages.length, 2);
});

Deno.test("no input and no history is a 400 naming input", () => {
  const err = refusal({ model: "m" });
  assert.equal(err.param, "input");
  assert.equal(err.message, "input: is required");
});

Deno.test("images become image_url parts for the neuron to refuse; text-only stays a string", () => {
  const { request } = translate({
    ...base,
    input: [
      {
        role: "user",
        content: [
          { type: "input_text", text: "What is this?" },
          { type: "input_image", image_url: "https://x.invalid/a.png", detail: "low" },
          { type: "input_image", file_id: "file_9" },
        ],
      },
    ],
  });
  assert.deepEqual(request.messages, [{
    role: "user",
    content: [
      { type: "text", text: "What is this?" },
      { type: "image_url", image_url: { url: "https://x.invalid/a.png", detail: "low" } },
      { type: "image_url", image_url: { url: "openai-file:file_9" } },
    ],
  }]);
});

Deno.test("hosted tools are dropped and reported; function tools pass", () => {
  const { request, droppedTools } = translate({
    ...base,
    tools: [
      { type: "web_search" },
      ...TOOLS,
      { type: "mcp", server_label: "deepwiki", server_url: "https://x.invalid" },
      { type: "custom", name: "apply_patch" },
      { type: "local_shell" },
      { type: "function", name: "noop", parameters: null, strict: null },
    ],
    tool_choice: "auto",
    parallel_tool_calls: false,
  });
  assert.deepEqual(droppedTools, [
    { type: "web_search", name: "web_search" },
    { type: "mcp", name: "deepwiki" },
    { type: "custom", name: "apply_patch" },
    { type: "local_shell", name: "local_shell" },
  ]);
  assert.deepEqual(request.tools?.map((t) => t.function), [
    {
      name: "get_weather",
      description: "Current weather",
      parameters: TOOLS[0].parameters,
      strict: true,
    },
    { name: "noop" },
  ]);
  assert.equal(request.tool_choice, "auto");
  assert.equal(request.parallel_tool_calls, false);
});

Deno.test("only hosted tools: no tools, no tool_choice reach the neuron", () => {
  const { request, droppedTools } = translate({
    ...base,
    tools: [{ type: "web_search" }],
    tool_choice: "auto",
    parallel_tool_calls: true,
  });
  assert.equal(droppedTools.length, 1);
  assert.ok(!("tools" in request));
  assert.ok(!("tool_choice" in request));
  assert.ok(!("parallel_tool_calls" in request));
});

Deno.test("tool_choice variants", () => {
  const tools = [...TOOLS, { type: "function", name: "get_time" }];
  const choice = (tool_choice: unknown) => translate({ ...base, tools, tool_choice }).request;
  assert.equal(choice("none").tool_choice, "none");
  assert.equal(choice("required").tool_choice, "required");
  assert.deepEqual(choice({ type: "function", name: "get_time" }).tool_choice, {
    type: "function",
    function: { name: "get_time" },
  });
  const allowed = choice({
    type: "allowed_tools",
    mode: "required",
    tools: [{ type: "function", name: "get_time" }, { type: "web_search" }],
  });
  assert.equal(allowed.tool_choice, "required");
  assert.deepEqual(allowed.tools?.map((t) => t.function.name), ["get_time"]);
  assert.ok(!("tool_choice" in translate({ ...base, tools }).request));
});

Deno.test("text.format → response_format", () => {
  const format = (f: unknown) =>
    translate({ ...base, text: { format: f } }).request.response_format;
  assert.equal(format({ type: "text" }), undefined);
  assert.deepEqual(format({ type: "json_object" }), { type: "json_object" });
  const schema = { type: "object", properties: { a: { type: "integer" } }, required: ["a"] };
  assert.deepEqual(
    format({ type: "json_schema", name: "answer", description: "One int", schema, strict: true }),
    {
      type: "json_schema",
      json_schema: { name: "answer", description: "One int", schema, strict: true },
    },
  );
  assert.deepEqual(format({ type: "json_schema", name: "a", schema }), {
    type: "json_schema",
    json_schema: { name: "a", schema },
  });
});

Deno.test("reasoning effort switches thinking and passes the effort on", () => {
  const kw = (reasoning: unknown) => {
    const { request } = translate({ ...base, reasoning });
    return [request.chat_template_kwargs?.enable_thinking, request.reasoning_effort];
  };
  assert.deepEqual(kw(undefined), [false, undefined]);
  assert.deepEqual(kw(null), [false, undefined]);
  assert.deepEqual(kw({ effort: "none" }), [false, undefined]);
  assert.deepEqual(kw({ effort: "minimal" }), [false, undefined]);
  assert.deepEqual(kw({ effort: "low" }), [true, "low"]);
  assert.deepEqual(kw({ effort: "high", summary: "auto" }), [true, "high"]);
  assert.deepEqual(kw({ effort: "none", summary: "auto" }), [false, undefined]);
  assert.deepEqual(kw({ summary: "detailed" }), [true, undefined]);
  assert.deepEqual(kw({}), [false, undefined]);
  assert.equal(thinkingEnabled({ effort: null, summary: null }), false);
});

Deno.test("sampling, limits, user and streaming", () => {
  const { request } = translate({
    ...base,
    max_output_tokens: 4096,
    temperature: 0.2,
    top_p: 0.95,
    speculative: "draft",
    user: "u-1",
    stream: true,
    store: false,
    metadata: { a: "b" },
  }, { maxOutputTokens: 1024 });
  assert.equal(request.max_tokens, 1024, "clamped to the model's limit");
  assert.equal(request.temperature, 0.2);
  assert.equal(request.top_p, 0.95);
  assert.equal(request.speculative, "draft", "cortex's extension reaches the neuron");
  assert.equal(request.user, "u-1");
  assert.equal(request.stream, true);
  assert.deepEqual(request.stream_options, { include_usage: true });
  assert.ok(!("store" in request), "store is the gateway's business, not the neuron's");
  assert.ok(!("metadata" in request));
  assert.equal(translate({ ...base, max_output_tokens: 100 }).request.max_tokens, 100);
});
