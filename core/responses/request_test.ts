import assert from "node:assert/strict";
import OpenAI from "openai";
import { HttpError, toOpenAIErrorBody } from "../errors.ts";
import { findImageInput, inputItemsOf, parseResponsesRequest } from "./request.ts";

const base = { model: "qwen3-8b", input: "hi" };

/** The 400 `HttpError` for `body`, or null when it is valid. */
function errorFor(body: unknown): HttpError | null {
  try {
    parseResponsesRequest(body);
    return null;
  } catch (e) {
    assert.ok(e instanceof HttpError, String(e));
    assert.equal(e.status, 400);
    return e;
  }
}

/** What the official SDK puts on the wire for a `responses.create` call (captured by a fake fetch). */
async function sdkBody(
  params: OpenAI.Responses.ResponseCreateParamsNonStreaming,
): Promise<unknown> {
  let body: unknown;
  const client = new OpenAI({
    apiKey: "k",
    baseURL: "http://cortex.invalid/v1",
    maxRetries: 0,
    fetch: (_url, init) => {
      body = JSON.parse(String(init?.body));
      return Promise.resolve(
        Response.json({ error: { message: "not under test" } }, { status: 400 }),
      );
    },
  });
  await client.responses.create(params).catch(() => {});
  return body;
}

Deno.test("a full request as the official SDK sends it validates", async () => {
  const body = await sdkBody({
    model: "qwen3",
    instructions: "Be terse.",
    input: [
      { role: "developer", content: "Use metric units." },
      { role: "user", content: [{ type: "input_text", text: "Weather in Oslo?" }] },
      {
        type: "reasoning",
        id: "rs_1",
        summary: [{ type: "summary_text", text: "Need the weather tool." }],
      },
      {
        type: "function_call",
        id: "fc_1",
        call_id: "call_1",
        name: "get_weather",
        arguments: '{"city":"Oslo"}',
        status: "completed",
      },
      { type: "function_call_output", call_id: "call_1", output: "12 °C, rain" },
      {
        type: "message",
        id: "msg_1",
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: "12 °C and rain.", annotations: [] }],
      },
      { role: "user", content: "And tomorrow?" },
    ],
    tools: [
      {
        type: "function",
        name: "get_weather",
        description: "Current weather",
        parameters: { type: "object", properties: { city: { type: "string" } } },
        strict: true,
      },
      { type: "web_search" },
    ],
    tool_choice: "auto",
    parallel_tool_calls: false,
    max_output_tokens: 256,
    temperature: 0.7,
    top_p: 0.9,
    text: {
      format: { type: "json_schema", name: "answer", schema: { type: "object" }, strict: true },
      verbosity: "low",
    },
    reasoning: { effort: "high", summary: "auto" },
    store: false,
    include: ["reasoning.encrypted_content"],
    metadata: { session: "abc" },
    previous_response_id: "resp_0",
    user: "u-1",
    truncation: "auto",
    service_tier: "auto",
    prompt_cache_key: "k1",
  });
  const req = parseResponsesRequest(body);
  assert.equal(req.model, "qwen3");
  assert.equal(Array.isArray(req.input) && req.input.length, 7);
  assert.equal(req.tools?.length, 2);
  assert.equal(req.reasoning?.effort, "high");
  assert.equal(req.store, false);
  assert.equal(req.previous_response_id, "resp_0");
});

Deno.test("a string input is one user message; items may omit type", () => {
  assert.deepEqual(inputItemsOf(parseResponsesRequest(base)), [
    { type: "message", role: "user", content: "hi" },
  ]);
  const req = parseResponsesRequest({
    model: "m",
    input: [{ role: "user", content: "a" }, { role: "system", content: "b" }],
  });
  assert.deepEqual(
    inputItemsOf(req).map((i) => i.type === "message" && [i.type, i.role]),
    [["message", "user"], ["message", "system"]],
  );
  assert.deepEqual(inputItemsOf(parseResponsesRequest({ model: "m" })), []);
});

Deno.test("unknown top-level fields and OpenAI-only knobs are ignored", () => {
  const req = parseResponsesRequest({
    ...base,
    stream_options: { include_obfuscation: false },
    safety_identifier: "s",
    context_management: [{ type: "compaction" }],
    brand_new_knob: 1,
  });
  assert.ok(!("brand_new_knob" in req));
  // Asking for no logprobs and bounding built-in tool calls (there are none) are honoured.
  assert.equal(errorFor({ ...base, top_logprobs: 0, max_tool_calls: 3 }), null);
  assert.ok(!("context_management" in req));
});

Deno.test("cortex's speculative extension is typed: a bad value is a 400 naming it", () => {
  assert.equal(parseResponsesRequest({ ...base, speculative: "ngram" }).speculative, "ngram");
  assert.throws(
    () => parseResponsesRequest({ ...base, speculative: "banana" }),
    (e) =>
      e instanceof HttpError && e.status === 400 && e.param === "speculative" &&
      /^speculative: unsupported value "banana"/.test(e.message),
  );
});

Deno.test("hosted and future tool types are accepted (the translation drops them)", () => {
  const req = parseResponsesRequest({
    ...base,
    tools: [
      { type: "web_search_preview" },
      { type: "file_search", vector_store_ids: ["vs_1"] },
      { type: "computer_use_preview", display_width: 1024, display_height: 768 },
      { type: "code_interpreter", container: { type: "auto" } },
      { type: "image_generation" },
      { type: "mcp", server_label: "deepwiki", server_url: "https://x.invalid" },
      { type: "local_shell" },
      { type: "custom", name: "apply_patch" },
      { type: "something_new_2031" },
      { type: "function", name: "f", parameters: null, strict: null },
    ],
  });
  assert.equal(req.tools?.length, 10);
});

Deno.test("bad inputs get a message naming the field in OpenAI's bracket style", () => {
  const cases: [unknown, string, RegExp][] = [
    [{ input: "hi" }, "model", /^model: is required$/],
    [{ ...base, model: "" }, "model", /^model: must be at least 1 character$/],
    [{ ...base, input: 5 }, "input", /^input: expected string or array, got number$/],
    [
      { ...base, input: [{ role: "tool", content: "x" }] },
      "input[0].role",
      /^input\[0\]\.role: unsupported value "tool"/,
    ],
    [{ ...base, input: [{ role: "user" }] }, "input[0].content", /is required$/],
    [
      { ...base, input: [{ type: "computer_call_output", call_id: "c", output: {} }] },
      "input[0].type",
      /^input\[0\]\.type: unsupported value "computer_call_output" \(expected one of: message, function_call, function_call_output, reasoning, item_reference\)$/,
    ],
    [
      { ...base, input: [{ role: "user", content: [{ type: "input_audio", data: "x" }] }] },
      "input[0].content[0].type",
      /unsupported value "input_audio"/,
    ],
    [
      { ...base, input: [{ type: "function_call", call_id: "c", name: "f" }] },
      "input[0].arguments",
      /^input\[0\]\.arguments: is required$/,
    ],
    [
      { ...base, input: [{ type: "function_call_output", output: "x" }] },
      "input[0].call_id",
      /^input\[0\]\.call_id: is required$/,
    ],
    [
      { ...base, input: [{ type: "item_reference", id: "msg_1" }] },
      "input[0]",
      /^input\[0\]: item_reference is not supported: .*previous_response_id$/,
    ],
    [
      { ...base, input: [{ role: "user", content: "x" }, { id: "msg_1" }] },
      "input[1]",
      /^input\[1\]: item_reference is not supported/,
    ],
    [
      {
        ...base,
        input: [{ role: "user", content: [{ type: "input_file", file_id: "file_1" }] }],
      },
      "input[0].content[0]",
      /^input\[0\]\.content\[0\]: input_file parts are not supported/,
    ],
    [
      {
        ...base,
        input: [{
          type: "function_call_output",
          call_id: "c",
          output: [{ type: "input_file", file_data: "x" }],
        }],
      },
      "input[0].output[0]",
      /^input\[0\]\.output\[0\]: input_file parts are not supported/,
    ],
    [
      {
        ...base,
        input: [{
          role: "system",
          content: [{ type: "input_image", image_url: "https://x.invalid/a.png" }],
        }],
      },
      "input[0].content[0]",
      /input_image parts are only allowed in user messages, not in system ones/,
    ],
    [
      { ...base, input: [{ role: "user", content: [{ type: "refusal", refusal: "no" }] }] },
      "input[0].content[0]",
      /refusal parts are only allowed in assistant messages/,
    ],
    [
      { ...base, tools: [{ type: "function" }] },
      "tools[0].name",
      /^tools\[0\]\.name: is required$/,
    ],
    [
      { ...base, tools: [{ type: "function", name: "f", parameters: "x" }] },
      "tools[0].parameters",
      /^tools\[0\]\.parameters: expected record, got string$/,
    ],
    [
      // The chat-completions shape sent to the Responses endpoint: the name is not nested.
      { ...base, tools: [{ type: "function", function: { name: "f" } }] },
      "tools[0].name",
      /^tools\[0\]\.name: is required$/,
    ],
    [{ ...base, tools: [{ name: "f" }] }, "tools[0].type", /^tools\[0\]\.type: is required$/],
    [
      { ...base, tool_choice: "sometimes" },
      "tool_choice",
      /^tool_choice: unsupported value "sometimes" \(expected one of: "auto", "none", "required"\)$/,
    ],
    [
      { ...base, tools: [{ type: "function", name: "f" }], tool_choice: { type: "function" } },
      "tool_choice.name",
      /^tool_choice\.name: is required$/,
    ],
    [
      {
        ...base,
        tools: [{ type: "function", name: "f" }],
        tool_choice: { type: "function", name: "g" },
      },
      "tool_choice.name",
      /^tool_choice\.name: no function tool named "g" \(function tools: f\)$/,
    ],
    [
      { ...base, tools: [{ type: "web_search" }], tool_choice: { type: "web_search_preview" } },
      "tool_choice",
      /^tool_choice: choosing the hosted tool "web_search_preview" is not supported: only function tools run on cortex$/,
    ],
    [
      { ...base, tool_choice: { type: "mcp", server_label: "x" } },
      "tool_choice",
      /hosted tool "mcp" is not supported/,
    ],
    [
      { ...base, tools: [{ type: "custom", name: "apply_patch" }], tool_choice: "required" },
      "tool_choice",
      /^tool_choice: "required" needs at least one function tool \(the request defines no function tools\)$/,
    ],
    [
      {
        ...base,
        tools: [{ type: "function", name: "f" }],
        tool_choice: {
          type: "allowed_tools",
          mode: "auto",
          tools: [{ type: "function", name: "g" }],
        },
      },
      "tool_choice.tools[0].name",
      /no function tool named "g"/,
    ],
    [{ ...base, max_output_tokens: 0 }, "max_output_tokens", /^max_output_tokens: must be > 0$/],
    [{ ...base, temperature: 2.5 }, "temperature", /^temperature: must be <= 2$/],
    [{ ...base, top_p: -0.1 }, "top_p", /^top_p: must be >= 0$/],
    [
      { ...base, text: { format: { type: "json_schema", schema: {} } } },
      "text.format.name",
      /^text\.format\.name: is required$/,
    ],
    [
      { ...base, text: { format: { type: "yaml" } } },
      "text.format.type",
      /unsupported value "yaml"/,
    ],
    [
      { ...base, reasoning: { effort: "extreme" } },
      "reasoning.effort",
      /^reasoning\.effort: unsupported value "extreme"/,
    ],
    [{ ...base, metadata: { n: 1 } }, "metadata.n", /expected string, got number/],
    [{ ...base, background: true }, "background", /^background: .*not supported/],
    [{ ...base, conversation: "conv_1" }, "conversation", /previous_response_id/],
    [{ ...base, prompt: { id: "pmpt_1" } }, "prompt", /^prompt: stored prompt templates/],
    [{ ...base, top_logprobs: 3 }, "top_logprobs", /^top_logprobs: .*not supported/],
    [{ ...base, max_tool_calls: 1.5 }, "max_tool_calls", /expected int/],
    [{ ...base, max_tool_calls: -1 }, "max_tool_calls", /max_tool_calls/],
    [{ ...base, max_tool_calls: "3" }, "max_tool_calls", /max_tool_calls/],
  ];
  for (const [body, param, expected] of cases) {
    const err = errorFor(body);
    assert.ok(err, `expected ${JSON.stringify(body)} to be refused`);
    assert.equal(err.param, param, `param for ${JSON.stringify(body)}: ${err.message}`);
    assert.match(err.message, expected);
  }
});

Deno.test("a validation error renders as OpenAI's invalid_request_error", () => {
  const err = errorFor({ ...base, tools: [{ type: "function" }] });
  assert.ok(err);
  assert.deepEqual(toOpenAIErrorBody(err), {
    error: {
      message: "tools[0].name: is required",
      type: "invalid_request_error",
      param: "tools[0].name",
      code: "missing_required_parameter",
    },
  });
});

Deno.test("tool_choice variants that can be honoured are accepted", () => {
  const tools = [{ type: "function", name: "f" }, { type: "function", name: "g" }];
  for (
    const tool_choice of [
      "auto",
      "none",
      "required",
      { type: "function", name: "g" },
      { type: "allowed_tools", mode: "required", tools: [{ type: "function", name: "f" }] },
      // Hosted entries of an allowed list name tools that are dropped anyway.
      {
        type: "allowed_tools",
        mode: "auto",
        tools: [{ type: "function", name: "f" }, { type: "web_search" }],
      },
    ]
  ) {
    assert.doesNotThrow(
      () => parseResponsesRequest({ ...base, tools, tool_choice }),
      JSON.stringify(tool_choice),
    );
  }
});

Deno.test("findImageInput names the first image by its Responses path", () => {
  const image = { type: "input_image", image_url: "data:image/png;base64,AAAA", detail: "auto" };
  assert.equal(findImageInput(parseResponsesRequest(base)), null);
  assert.equal(
    findImageInput(parseResponsesRequest({
      ...base,
      input: [
        { role: "user", content: "look" },
        { role: "user", content: [{ type: "input_text", text: "this:" }, image] },
      ],
    })),
    "input[1].content[1]",
  );
  assert.equal(
    findImageInput(parseResponsesRequest({
      ...base,
      input: [
        { type: "function_call", call_id: "c", name: "shot", arguments: "{}" },
        { type: "function_call_output", call_id: "c", output: [image] },
      ],
    })),
    "input[1].output[0]",
  );
});

Deno.test("JSON Schemas in tools and text.format are checked and bounded", () => {
  let deep: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < 1_000; i++) deep = { type: "object", properties: { a: deep } };
  const tool = errorFor({
    model: "m",
    input: "hi",
    tools: [{ type: "function", name: "f", parameters: deep }],
  });
  assert.equal(tool?.param, "tools[0].parameters");
  assert.equal(tool?.status, 400);
  const banana = errorFor({
    model: "m",
    input: "hi",
    tools: [{ type: "function", name: "f", parameters: { type: "banana" } }],
  });
  assert.equal(banana?.param, "tools[0].parameters");
  const format = errorFor({
    model: "m",
    input: "hi",
    text: { format: { type: "json_schema", name: "x", schema: deep } },
  });
  assert.equal(format?.param, "text.format.schema");
});
