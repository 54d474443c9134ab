import assert from "node:assert/strict";
import { ChatCompletionRequestSchema } from "../openai/chat.ts";
import { parseCountTokensRequest, parseMessagesRequest } from "./request.ts";
import {
  anthropicToOpenAI,
  countTokensRequestToOpenAI,
  type TranslateOptions,
} from "./to_openai.ts";

const hi = [{ role: "user", content: "hi" }];
const base = { model: "qwen3-8b", max_tokens: 512, messages: hi };

/** Parses `body` as the gateway does, translates it, and checks the neuron would accept it. */
function translate(body: Record<string, unknown>, options?: TranslateOptions) {
  const t = anthropicToOpenAI(parseMessagesRequest(body), options);
  const check = ChatCompletionRequestSchema.safeParse(t.request);
  assert.ok(check.success, JSON.stringify(!check.success && check.error.issues));
  return t;
}

Deno.test("a plain request: model, user turn, max_tokens, thinking off", () => {
  const { request, droppedTools } = translate(base);
  assert.deepEqual(request, {
    model: "qwen3-8b",
    messages: [{ role: "user", content: "hi" }],
    chat_template_kwargs: { enable_thinking: false },
    max_tokens: 512,
  });
  assert.deepEqual(droppedTools, []);
});

Deno.test("system string, system blocks, and system turns merge into one leading message in order", () => {
  assert.deepEqual(translate({ ...base, system: "Be terse." }).request.messages[0], {
    role: "system",
    content: "Be terse.",
  });
  const { request } = translate({
    ...base,
    system: [{ type: "text", text: "A" }, {
      type: "text",
      text: "B",
      cache_control: { type: "ephemeral" },
    }],
    messages: [
      { role: "system", content: "C" },
      { role: "user", content: "hi" },
      { role: "system", content: [{ type: "text", text: "D" }] },
      { role: "assistant", content: "hello" },
    ],
  });
  assert.deepEqual(request.messages, [
    { role: "system", content: "A\n\nB\n\nC\n\nD" },
    { role: "user", content: "hi" },
    { role: "assistant", content: "hello" },
  ]);
});

Deno.test("tool_use → assistant tool_calls; tool_result → tool messages first, in order", () => {
  const { request } = translate({
    ...base,
    tools: [{ name: "get_weather", input_schema: { type: "object" } }],
    messages: [
      { role: "user", content: "Weather in Oslo and Bergen?" },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "two cities, two calls", signature: "cortex-local" },
          { type: "redacted_thinking", data: "opaque" },
          { type: "text", text: "Checking." },
          { type: "tool_use", id: "call_a", name: "get_weather", input: { city: "Oslo" } },
          {
            type: "tool_use",
            id: "call_b",
            name: "get_weather",
            input: { city: "Bergen", units: ["c"] },
          },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "call_a", content: "sunny" },
          {
            type: "tool_result",
            tool_use_id: "call_b",
            content: [{ type: "text", text: "rain" }, { type: "text", text: "12C" }],
            is_error: true,
          },
          { type: "text", text: "Summarise." },
        ],
      },
    ],
  });
  assert.deepEqual(request.messages, [
    { role: "user", content: "Weather in Oslo and Bergen?" },
    {
      role: "assistant",
      content: "Checking.",
      reasoning_content: "two cities, two calls",
      tool_calls: [
        {
          id: "call_a",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
        },
        {
          id: "call_b",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Bergen","units":["c"]}' },
        },
      ],
    },
    { role: "tool", tool_call_id: "call_a", content: "sunny" },
    { role: "tool", tool_call_id: "call_b", content: "Error: rain\n\n12C" },
    { role: "user", content: "Summarise." },
  ]);
});

Deno.test("an assistant turn with only tool calls gets empty string content", () => {
  const { request } = translate({
    ...base,
    messages: [
      { role: "user", content: "go" },
      { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "f", input: {} }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "t1" }] },
    ],
  });
  assert.equal(request.messages[1].content, "");
  assert.deepEqual(request.messages[2], { role: "tool", tool_call_id: "t1", content: "" });
});

Deno.test("images become image_url parts (refused later by the neuron)", () => {
  const { request } = translate({
    ...base,
    messages: [{
      role: "user",
      content: [
        { type: "text", text: "what is it?" },
        { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBOR" } },
        { type: "image", source: { type: "url", url: "https://example.com/a.jpg" } },
      ],
    }],
  });
  assert.deepEqual(request.messages[0].content, [
    { type: "text", text: "what is it?" },
    { type: "image_url", image_url: { url: "data:image/png;base64,iVBOR" } },
    { type: "image_url", image_url: { url: "https://example.com/a.jpg" } },
  ]);
});

Deno.test("tool_choice variants and disable_parallel_tool_use", () => {
  const tools = [{ name: "f", input_schema: { type: "object" } }];
  const cases: [unknown, unknown, boolean | undefined][] = [
    [{ type: "auto" }, "auto", undefined],
    [{ type: "any" }, "required", undefined],
    [{ type: "none" }, "none", undefined],
    [{ type: "tool", name: "f" }, { type: "function", function: { name: "f" } }, undefined],
    [{ type: "auto", disable_parallel_tool_use: true }, "auto", false],
    [{ type: "any", disable_parallel_tool_use: false }, "required", undefined],
  ];
  for (const [choice, expected, parallel] of cases) {
    const { request } = translate({ ...base, tools, tool_choice: choice });
    assert.deepEqual(request.tool_choice, expected, JSON.stringify(choice));
    assert.equal(request.parallel_tool_calls, parallel, JSON.stringify(choice));
  }
});

Deno.test("custom tools become function tools; server tools are dropped and reported", () => {
  const schema = { type: "object", properties: { q: { type: "string" } }, required: ["q"] };
  const { request, droppedTools } = translate({
    ...base,
    tools: [
      {
        name: "search_docs",
        description: "Search",
        input_schema: schema,
        cache_control: { type: "ephemeral" },
      },
      { type: "web_search_20250305", name: "web_search" },
      { type: "bash_20250124", name: "bash" },
      { type: "custom", name: "other", input_schema: { type: "object" } },
    ],
  });
  assert.deepEqual(request.tools, [
    {
      type: "function",
      function: { name: "search_docs", description: "Search", parameters: schema },
    },
    { type: "function", function: { name: "other", parameters: { type: "object" } } },
  ]);
  assert.deepEqual(droppedTools, [
    { name: "web_search", type: "web_search_20250305" },
    { name: "bash", type: "bash_20250124" },
  ]);
});

Deno.test("when every tool is a server tool, no tools or tool_choice are sent", () => {
  const { request, droppedTools } = translate({
    ...base,
    tools: [{ type: "web_search_20250305", name: "web_search" }],
    tool_choice: { type: "auto" },
  });
  assert.equal(request.tools, undefined);
  assert.equal(request.tool_choice, undefined);
  assert.equal(droppedTools.length, 1);
});

Deno.test("thinking enabled/adaptive turn enable_thinking on; disabled/absent off", () => {
  const cases: [unknown, boolean][] = [
    [{ type: "enabled", budget_tokens: 2048 }, true],
    [{ type: "adaptive" }, true],
    [{ type: "disabled" }, false],
    [undefined, false],
  ];
  for (const [thinking, on] of cases) {
    const body = thinking === undefined ? base : { ...base, thinking };
    assert.deepEqual(translate(body).request.chat_template_kwargs, { enable_thinking: on });
  }
});

Deno.test("thinking.budget_tokens becomes reasoning_budget_tokens; other modes set none", () => {
  const on = { ...base, thinking: { type: "enabled", budget_tokens: 2048 } };
  assert.equal(translate(on).request.reasoning_budget_tokens, 2048);
  assert.equal(
    translate({ ...base, thinking: { type: "adaptive" } }).request.reasoning_budget_tokens,
    undefined,
  );
  assert.equal(translate(base).request.reasoning_budget_tokens, undefined);
});

Deno.test("max_tokens is clamped to the model's output limit", () => {
  assert.equal(
    translate({ ...base, max_tokens: 64000 }, { maxOutputTokens: 8192 }).request.max_tokens,
    8192,
  );
  assert.equal(
    translate({ ...base, max_tokens: 100 }, { maxOutputTokens: 8192 }).request.max_tokens,
    100,
  );
  assert.equal(translate({ ...base, max_tokens: 64000 }).request.max_tokens, 64000);
});

Deno.test("sampling, stop sequences, user, streaming and output_config carry over", () => {
  const { request } = translate({
    ...base,
    temperature: 0.2,
    top_p: 0.8,
    top_k: 20,
    speculative: "ngram",
    stop_sequences: ["</answer>", "\n\nUser:"],
    metadata: { user_id: "u-7" },
    stream: true,
    output_config: { effort: "high", format: { type: "json_schema", schema: { type: "object" } } },
  });
  assert.equal(request.temperature, 0.2);
  assert.equal(request.top_p, 0.8);
  assert.equal(request.top_k, 20);
  assert.equal(request.speculative, "ngram", "cortex's extension reaches the neuron");
  assert.deepEqual(request.stop, ["</answer>", "\n\nUser:"]);
  assert.equal(request.user, "u-7");
  assert.equal(request.stream, true);
  assert.deepEqual(request.stream_options, { include_usage: true });
  assert.equal(request.reasoning_effort, "high");
  assert.deepEqual(request.response_format, {
    type: "json_schema",
    json_schema: { name: "output", schema: { type: "object" }, strict: true },
  });
});

Deno.test("unknown top-level fields do not reach the neuron", () => {
  const { request } = translate({ ...base, container: "c", service_tier: "auto", betas: ["b"] });
  for (const key of ["container", "service_tier", "betas"]) assert.ok(!(key in request), key);
});

Deno.test("count_tokens translation keeps the prompt and drops generation fields", () => {
  const { request, droppedTools } = countTokensRequestToOpenAI(parseCountTokensRequest({
    model: "qwen3-8b",
    system: "sys",
    messages: hi,
    tools: [{ name: "f", input_schema: { type: "object" } }, {
      type: "web_fetch_20250910",
      name: "web_fetch",
    }],
    thinking: { type: "adaptive" },
  }));
  assert.deepEqual(request, {
    model: "qwen3-8b",
    messages: [{ role: "system", content: "sys" }, { role: "user", content: "hi" }],
    chat_template_kwargs: { enable_thinking: true },
    tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
  });
  assert.deepEqual(droppedTools, [{ name: "web_fetch", type: "web_fetch_20250910" }]);
  assert.ok(ChatCompletionRequestSchema.safeParse(request).success);
});
