import assert from "node:assert/strict";
import OpenAI from "openai";
import {
  type ChatCompletionChunk,
  ChatCompletionChunkSchema,
  ChatCompletionRequestSchema,
  ChatCompletionSchema,
  contentText,
  findImagePart,
  refuseUnhonoured,
  requestedMaxTokens,
} from "./chat.ts";
import { HttpError } from "../errors.ts";
import { zodToOpenAIError } from "./errors.ts";

const user = [{ role: "user", content: "hi" }];

/** The OpenAI error for `body`, or null when it is valid. */
function errorFor(body: unknown) {
  const r = ChatCompletionRequestSchema.safeParse(body);
  return r.success ? null : zodToOpenAIError(r.error, body).error;
}

/** What the official SDK puts on the wire for `params` (captured by a fake fetch). */
async function sdkBody(
  call: (client: OpenAI) => Promise<unknown>,
  reply: unknown = {},
): Promise<unknown> {
  let body: unknown;
  const client = new OpenAI({
    apiKey: "k",
    baseURL: "http://cortex.invalid/v1",
    maxRetries: 0,
    fetch: (_url, init) => {
      body = JSON.parse(String(init?.body));
      return Promise.resolve(Response.json(reply));
    },
  });
  await call(client).catch(() => {});
  return body;
}

Deno.test("a full request as the official SDK sends it validates", async () => {
  const body = await sdkBody((c) =>
    c.chat.completions.create({
      model: "qwen3",
      messages: [
        { role: "developer", content: "be brief" },
        { role: "system", content: [{ type: "text", text: "sys" }] },
        { role: "user", content: [{ type: "text", text: "weather?" }] },
        {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: "call_1",
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
          }],
        },
        { role: "tool", tool_call_id: "call_1", content: "sunny" },
      ],
      tools: [{
        type: "function",
        function: {
          name: "get_weather",
          description: "Weather now",
          parameters: { type: "object", properties: { city: { type: "string" } } },
          strict: true,
        },
      }],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      parallel_tool_calls: false,
      response_format: {
        type: "json_schema",
        json_schema: { name: "w", schema: { type: "object" }, strict: true },
      },
      stream: true,
      stream_options: { include_usage: true },
      max_completion_tokens: 100,
      temperature: 0.7,
      top_p: 0.9,
      n: 1,
      stop: ["END", "STOP"],
      seed: 42,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { "1234": -100 },
      user: "u1",
      metadata: { team: "a" },
      store: false,
      reasoning_effort: "low",
    })
  );
  const r = ChatCompletionRequestSchema.safeParse(body);
  assert.ok(r.success, JSON.stringify(!r.success && r.error.issues));
  assert.equal(requestedMaxTokens(r.data), 100);
});

Deno.test("llama.cpp extensions and unknown vendor fields are accepted and kept", () => {
  const r = ChatCompletionRequestSchema.parse({
    model: "m",
    messages: user,
    top_k: 40,
    min_p: 0.05,
    repeat_penalty: 1.1,
    chat_template_kwargs: { enable_thinking: false },
    cache_prompt: true,
  });
  assert.equal(r.top_k, 40);
  assert.deepEqual(r.chat_template_kwargs, { enable_thinking: false });
  assert.equal(r.cache_prompt, true);
});

Deno.test("nulls are accepted wherever OpenAI allows them", () => {
  const r = ChatCompletionRequestSchema.safeParse({
    model: "m",
    messages: user,
    temperature: null,
    max_tokens: null,
    stop: null,
    tools: null,
    stream_options: null,
  });
  assert.ok(r.success);
});

Deno.test("bad fields are named in OpenAI's param style", () => {
  const cases: [unknown, string, RegExp][] = [
    [{ messages: user }, "model", /is required/],
    [{ model: "m", messages: [] }, "messages", /at least one message/],
    [
      { model: "m", messages: [{ role: "function", content: "x" }] },
      "messages[0].role",
      /"function"/,
    ],
    [
      { model: "m", messages: [{ role: "tool", content: "x" }] },
      "messages[0].tool_call_id",
      /required/,
    ],
    [
      { model: "m", messages: [{ role: "user", content: [{ type: "input_audio" }] }] },
      "messages[0].content[0].type",
      /expected one of: text, image_url/,
    ],
    [{ model: "m", messages: user, temperature: 2.5 }, "temperature", /<= 2/],
    [{ model: "m", messages: user, top_p: -0.1 }, "top_p", />= 0/],
    [{ model: "m", messages: user, n: 3 }, "n", /only n=1/],
    [{ model: "m", messages: user, stop: Array(17).fill("x") }, "stop", /at most 16/],
    [{ model: "m", messages: user, frequency_penalty: 3 }, "frequency_penalty", /<= 2/],
    [{ model: "m", messages: user, logit_bias: { abc: 1 } }, "logit_bias.abc", /token ids/],
    [{ model: "m", messages: user, logit_bias: { "5": 200 } }, "logit_bias.5", /<= 100/],
    // 2**32 + 300 would wrap to token 300 as an int32.
    [
      { model: "m", messages: user, logit_bias: { "4294967596": 1 } },
      "logit_bias.4294967596",
      /token ids are at most 2147483647/,
    ],
    [{ model: "m", messages: user, max_tokens: 0 }, "max_tokens", /> 0/],
    [{ model: "m", messages: user, tool_choice: "always" }, "tool_choice", /"always"/],
    [
      { model: "m", messages: user, tools: [{ type: "custom", custom: { name: "x" } }] },
      "tools[0].type",
      /"custom"/,
    ],
    [
      { model: "m", messages: user, response_format: { type: "xml" } },
      "response_format.type",
      /xml/,
    ],
    [{ model: "m", messages: user, reasoning_effort: "extreme" }, "reasoning_effort", /extreme/],
  ];
  for (const [body, param, message] of cases) {
    const err = errorFor(body);
    assert.ok(err, `expected an error for ${JSON.stringify(body)}`);
    assert.equal(err.param, param, JSON.stringify(err));
    assert.match(err.message, message);
    assert.ok(err.message.startsWith(`${param}: `), err.message);
    assert.equal(err.type, "invalid_request_error");
  }
});

Deno.test("image parts are recognised and located for refusal", () => {
  const req = ChatCompletionRequestSchema.parse({
    model: "m",
    messages: [
      { role: "user", content: "first" },
      {
        role: "user",
        content: [
          { type: "text", text: "what is this?" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
        ],
      },
    ],
  });
  assert.equal(findImagePart(req), "messages[1].content[1]");
  assert.equal(
    findImagePart(ChatCompletionRequestSchema.parse({ model: "m", messages: user })),
    null,
  );
});

Deno.test("contentText flattens text parts", () => {
  assert.equal(contentText("plain"), "plain");
  assert.equal(contentText(null), "");
  assert.equal(
    contentText([{ type: "text", text: "a" }, { type: "image_url" }, { type: "text", text: "b" }]),
    "ab",
  );
});

Deno.test("max_completion_tokens wins over max_tokens", () => {
  const r = ChatCompletionRequestSchema.parse({
    model: "m",
    messages: user,
    max_tokens: 10,
    max_completion_tokens: 20,
  });
  assert.equal(requestedMaxTokens(r), 20);
  assert.equal(
    requestedMaxTokens(ChatCompletionRequestSchema.parse({ model: "m", messages: user })),
    undefined,
  );
});

Deno.test("a response with reasoning and tool calls validates, and the SDK reads it", async () => {
  const completion = {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1700000000,
    model: "qwen3",
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: null,
        reasoning_content: "need the weather",
        tool_calls: [{
          id: "call_9",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
        }],
      },
      finish_reason: "tool_calls",
      stop_reason: null,
      logprobs: null,
    }],
    usage: {
      prompt_tokens: 20,
      completion_tokens: 9,
      total_tokens: 29,
      completion_tokens_details: { reasoning_tokens: 4 },
      prompt_tokens_details: { cached_tokens: 16 },
    },
  };
  const parsed = ChatCompletionSchema.parse(completion);
  assert.equal(parsed.usage?.completion_tokens_details?.reasoning_tokens, 4);
  assert.equal(parsed.choices[0].message.reasoning_content, "need the weather");

  let got: OpenAI.ChatCompletion | undefined;
  await sdkBody(async (c) => {
    got = await c.chat.completions.create({
      model: "qwen3",
      messages: [{ role: "user", content: "x" }],
    });
  }, completion);
  assert.equal(got?.choices[0].message.tool_calls?.[0].id, "call_9");
});

Deno.test("streaming chunks: content, reasoning, tool call pieces, stop_reason, usage", () => {
  const chunks: unknown[] = [
    {
      id: "c",
      object: "chat.completion.chunk",
      created: 1,
      model: "m",
      choices: [{ index: 0, delta: { role: "assistant", content: null }, finish_reason: null }],
    },
    {
      id: "c",
      object: "chat.completion.chunk",
      created: 1,
      model: "m",
      choices: [{ index: 0, delta: { reasoning_content: "hmm" }, finish_reason: null }],
    },
    {
      id: "c",
      object: "chat.completion.chunk",
      created: 1,
      model: "m",
      choices: [{
        index: 0,
        delta: {
          tool_calls: [{
            index: 0,
            id: "call_1",
            type: "function",
            function: { name: "f", arguments: "" },
          }],
        },
        finish_reason: null,
      }],
    },
    {
      id: "c",
      object: "chat.completion.chunk",
      created: 1,
      model: "m",
      choices: [{ index: 0, delta: {}, finish_reason: "stop", stop_reason: "END" }],
    },
    {
      id: "c",
      object: "chat.completion.chunk",
      created: 1,
      model: "m",
      choices: [],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    },
  ];
  const parsed: ChatCompletionChunk[] = chunks.map((c) => ChatCompletionChunkSchema.parse(c));
  assert.equal(parsed[1].choices[0].delta.reasoning_content, "hmm");
  assert.equal(parsed[2].choices[0].delta.tool_calls?.[0].function?.name, "f");
  assert.equal(parsed[3].choices[0].stop_reason, "END");
  assert.equal(parsed[4].usage?.total_tokens, 7);
  const bad = ChatCompletionChunkSchema.safeParse({
    ...(chunks[3] as object),
    choices: [{ index: 0 }],
  });
  assert.ok(!bad.success);
});

/** An object schema `n` levels of `properties` deep. */
function nestedSchema(n: number): Record<string, unknown> {
  let s: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < n; i++) s = { type: "object", properties: { a: s } };
  return s;
}

Deno.test("JSON Schemas nested too deep are refused naming the field", () => {
  const deep = nestedSchema(1_000);
  const rf = errorFor({
    model: "m",
    messages: user,
    response_format: { type: "json_schema", json_schema: { name: "x", schema: deep } },
  });
  assert.equal(rf?.param, "response_format.json_schema.schema");
  assert.equal(rf?.type, "invalid_request_error");
  assert.equal(rf?.code, "invalid_json_schema");
  assert.match(rf!.message, /nested more than 64 levels deep/);
  const tool = errorFor({
    model: "m",
    messages: user,
    tools: [
      { type: "function", function: { name: "ok", parameters: { type: "object" } } },
      { type: "function", function: { name: "f", parameters: deep } },
    ],
  });
  assert.equal(tool?.param, "tools[1].function.parameters");
  assert.equal(tool?.code, "invalid_function_parameters");
  assert.match(tool!.message, /^tools\[1\]\.function\.parameters: is nested more than 64/);
  const kwargs = errorFor({ model: "m", messages: user, chat_template_kwargs: { x: deep } });
  assert.equal(kwargs?.param, "chat_template_kwargs");
  const args = errorFor({
    model: "m",
    messages: [...user, {
      role: "assistant",
      tool_calls: [{
        id: "c",
        type: "function",
        function: { name: "f", arguments: "[".repeat(100_000) + "]".repeat(100_000) },
      }],
    }],
  });
  assert.equal(args?.param, "messages[1].tool_calls[0].function.arguments");
});

Deno.test("tool parameters must be an object schema with JSON Schema types", () => {
  const banana = errorFor({
    model: "m",
    messages: user,
    tools: [{ type: "function", function: { name: "f", parameters: { type: "banana" } } }],
  });
  assert.equal(banana?.param, "tools[0].function.parameters");
  assert.match(banana!.message, /unknown type "banana"/);
  const inner = errorFor({
    model: "m",
    messages: user,
    tools: [{
      type: "function",
      function: { name: "f", parameters: { type: "object", properties: { x: { type: "str" } } } },
    }],
  });
  assert.equal(inner?.param, "tools[0].function.parameters");
  assert.match(inner!.message, /unknown type "str" at \/properties\/x/);
  const scalar = errorFor({
    model: "m",
    messages: user,
    tools: [{ type: "function", function: { name: "f", parameters: { type: "string" } } }],
  });
  assert.match(scalar!.message, /must describe an object/);
});

Deno.test("json_schema without a schema is refused naming response_format.json_schema.schema", () => {
  const e = errorFor({
    model: "m",
    messages: user,
    response_format: { type: "json_schema", json_schema: { name: "x" } },
  });
  assert.equal(e?.param, "response_format.json_schema.schema");
  assert.equal(e?.code, "missing_required_parameter");
});

Deno.test("tool_choice that forces a call needs tools", () => {
  for (
    const tool_choice of ["required", { type: "function", function: { name: "f" } }] as const
  ) {
    for (const tools of [undefined, []]) {
      const e = errorFor({ model: "m", messages: user, tool_choice, tools });
      assert.equal(e?.param, "tool_choice", JSON.stringify({ tool_choice, tools }));
      assert.match(e!.message, /no tools/);
    }
  }
  for (const tool_choice of ["auto", "none"]) {
    assert.equal(errorFor({ model: "m", messages: user, tool_choice }), null);
  }
});

Deno.test("logprobs and top_logprobs are typed, so a wrong type is refused by name", () => {
  assert.equal(errorFor({ model: "m", messages: user, logprobs: "yes" })?.param, "logprobs");
  assert.equal(errorFor({ model: "m", messages: user, top_logprobs: "3" })?.param, "top_logprobs");
  assert.equal(errorFor({ model: "m", messages: user, top_logprobs: 21 })?.param, "top_logprobs");
  assert.equal(errorFor({ model: "m", messages: user, logprobs: false }), null);
});

/** The refusal `refuseUnhonoured` gives a valid `body`, or null when it is served. */
function refusalFor(body: Record<string, unknown>) {
  try {
    refuseUnhonoured(ChatCompletionRequestSchema.parse({ model: "m", messages: user, ...body }));
    return null;
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    return { status: e.status, param: e.param, code: e.code, message: e.message };
  }
}

Deno.test("fields the neuron does not honour are refused by name, not ignored", () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ logprobs: true }, "logprobs", "unsupported_parameter"],
    [{ top_logprobs: 3 }, "top_logprobs", "unsupported_parameter"],
    [{ modalities: ["text", "audio"] }, "modalities", "unsupported_parameter"],
    [{ audio: { voice: "alloy", format: "wav" } }, "audio", "unsupported_parameter"],
    [{ prediction: { type: "content", content: "x" } }, "prediction", "unsupported_parameter"],
    [{ web_search_options: {} }, "web_search_options", "unsupported_parameter"],
    [{ stream_options: { include_usage: true } }, "stream_options", "invalid_value"],
    [{ stream: false, stream_options: {} }, "stream_options", "invalid_value"],
  ];
  for (const [body, param, code] of cases) {
    const e = refusalFor(body);
    assert.equal(e?.status, 400, JSON.stringify(body));
    assert.equal(e?.param, param, JSON.stringify(body));
    assert.equal(e?.code, code, JSON.stringify(body));
    assert.match(e!.message, new RegExp(param));
  }
  assert.match(refusalFor({ modalities: ["audio"] })!.message, /"audio"/);
  // A wrong type is a schema error naming the field.
  assert.equal(errorFor({ model: "m", messages: user, modalities: "text" })?.param, "modalities");
});

Deno.test("the same fields asking for nothing are served", () => {
  for (
    const body of [
      { logprobs: false, top_logprobs: 0 },
      { modalities: ["text"] },
      { modalities: [] },
      { modalities: null, audio: null, prediction: null, web_search_options: null },
      { stream: true, stream_options: { include_usage: true } },
      { stream: false, stream_options: null },
    ]
  ) {
    assert.equal(refusalFor(body), null, JSON.stringify(body));
  }
});
