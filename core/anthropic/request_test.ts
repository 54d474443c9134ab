import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { HttpError, toAnthropicErrorBody } from "../errors.ts";
import { MessagesRequestSchema, parseCountTokensRequest, parseMessagesRequest } from "./request.ts";

const hi = [{ role: "user", content: "hi" }];
const base = { model: "qwen3-8b", max_tokens: 256, messages: hi };

/** The 400 message `body` gets, or null when it is valid. */
function messageFor(body: unknown): string | null {
  try {
    parseMessagesRequest(body);
    return null;
  } catch (e) {
    assert.ok(e instanceof HttpError);
    assert.equal(e.status, 400);
    return e.message;
  }
}

Deno.test("the official SDK's request body validates (streaming, tools, thinking)", async () => {
  let body: unknown;
  const client = new Anthropic({
    apiKey: "k",
    baseURL: "http://cortex.invalid",
    maxRetries: 0,
    fetch: (_url, init) => {
      body = JSON.parse(String(init?.body));
      return Promise.resolve(
        new Response("", { headers: { "content-type": "text/event-stream" } }),
      );
    },
  });
  await client.messages.stream({
    model: "qwen3-8b",
    max_tokens: 4096,
    system: [{ type: "text", text: "You are terse.", cache_control: { type: "ephemeral" } }],
    messages: [
      { role: "user", content: [{ type: "text", text: "weather in Oslo?" }] },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "call the tool", signature: "sig" },
          { type: "redacted_thinking", data: "opaque" },
          { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Oslo" } },
        ],
      },
      {
        role: "user",
        content: [{
          type: "tool_result",
          tool_use_id: "toolu_1",
          content: [{ type: "text", text: "sunny" }],
          is_error: false,
        }],
      },
    ],
    tools: [{
      name: "get_weather",
      description: "Weather now",
      input_schema: {
        type: "object",
        properties: { city: { type: "string" } },
        required: ["city"],
      },
    }],
    tool_choice: { type: "auto", disable_parallel_tool_use: true },
    thinking: { type: "enabled", budget_tokens: 2048 },
    stop_sequences: ["\n\nHuman:"],
    metadata: { user_id: "u-1" },
  }).done().catch(() => {});
  const req = parseMessagesRequest(body);
  assert.equal(req.stream, true);
  assert.equal(req.messages.length, 3);
  assert.equal(req.thinking?.type, "enabled");
});

Deno.test("system turns inside messages, cache_control anywhere, unknown fields ignored", () => {
  const req = parseMessagesRequest({
    ...base,
    messages: [
      { role: "system", content: "extra rules" },
      {
        role: "user",
        content: [{ type: "text", text: "hi", cache_control: { type: "ephemeral", ttl: "1h" } }],
      },
    ],
    container: "c1",
    service_tier: "auto",
    anthropic_beta: ["x"],
  });
  assert.equal(req.messages[0].role, "system");
  assert.ok(!("container" in req));
  assert.ok(!("service_tier" in req));
});

Deno.test("server tools are accepted (the translation filters them)", () => {
  const req = parseMessagesRequest({
    ...base,
    tools: [
      { type: "web_search_20250305", name: "web_search", max_uses: 3 },
      { type: "custom", name: "mine", input_schema: { type: "object" } },
    ],
  });
  assert.equal(req.tools?.length, 2);
});

Deno.test("bad inputs get a message naming the field in Anthropic's dotted style", () => {
  const cases: [unknown, RegExp][] = [
    [{ model: "m", messages: hi }, /^max_tokens: is required$/],
    [{ ...base, max_tokens: 0 }, /^max_tokens: must be > 0$/],
    [{ ...base, max_tokens: 1.5 }, /^max_tokens: expected int/],
    [{ ...base, model: "" }, /^model: must be at least 1 character$/],
    [{ ...base, messages: [] }, /^messages: at least one message is required$/],
    [
      { ...base, messages: [{ role: "tool", content: "x" }] },
      /^messages\.0\.role: unsupported value "tool"/,
    ],
    [{ ...base, messages: [{ role: "user" }] }, /^messages\.0\.content: is required$/],
    [
      { ...base, messages: [{ role: "user", content: [{ type: "document", source: {} }] }] },
      /^messages\.0\.content\.0\.type: unsupported value "document" \(expected one of: text, image, tool_result\)$/,
    ],
    [
      {
        ...base,
        messages: [{
          role: "user",
          content: [{ type: "tool_use", id: "a", name: "f", input: {} }],
        }],
      },
      /^messages\.0\.content\.0\.type: unsupported value "tool_use"/,
    ],
    [
      { ...base, messages: [{ role: "user", content: [{ type: "tool_result", content: "x" }] }] },
      /^messages\.0\.content\.0\.tool_use_id: is required$/,
    ],
    [
      {
        ...base,
        messages: [{
          role: "assistant",
          content: [{ type: "tool_use", id: "a", name: "f", input: "x" }],
        }],
      },
      /^messages\.0\.content\.0\.input: expected record, got string$/,
    ],
    [{ ...base, system: 5 }, /^system: expected string or array, got number$/],
    [
      { ...base, tools: [{ name: "f" }] },
      /^tools\.0\.input_schema: is required for a custom tool$/,
    ],
    [
      {
        ...base,
        tools: [{ name: "f", input_schema: {} }],
        tool_choice: { type: "tool", name: "g" },
      },
      /^tool_choice\.name: no tool named "g" in tools \(have: f\)$/,
    ],
    // "any" must pick one of the tools the model can call: server tools do not run here.
    [
      { ...base, tool_choice: { type: "any" } },
      /^tool_choice\.type: "any" needs at least one tool/,
    ],
    [
      {
        ...base,
        tools: [{ type: "web_search_20250305", name: "web_search" }],
        tool_choice: { type: "any" },
      },
      /^tool_choice\.type: "any" needs at least one tool/,
    ],
    [
      { ...base, tool_choice: { type: "sometimes" } },
      /^tool_choice\.type: unsupported value "sometimes"/,
    ],
    [{ ...base, temperature: 1.5 }, /^temperature: must be <= 1$/],
    [
      { ...base, mcp_servers: [{ type: "url", url: "https://mcp.example/sse", name: "x" }] },
      /^mcp_servers: MCP servers cannot be reached from cortex/,
    ],
    [{ ...base, top_k: -1 }, /^top_k: must be >= 0$/],
    // cortex's extension is typed (not stripped with unknown fields): a bad value is named.
    [{ ...base, speculative: "banana" }, /^speculative: unsupported value "banana"/],
    [{ ...base, speculative: true }, /^speculative: /],
    [{ ...base, stop_sequences: "END" }, /^stop_sequences: expected array, got string$/],
    [{ ...base, thinking: { type: "enabled" } }, /^thinking\.budget_tokens: is required$/],
    [{ ...base, thinking: { type: "maybe" } }, /^thinking\.type: unsupported value "maybe"/],
  ];
  for (const [body, expected] of cases) {
    const message = messageFor(body);
    assert.ok(message, `expected ${JSON.stringify(body)} to be refused`);
    assert.match(message, expected);
  }
});

Deno.test("a validation error renders as Anthropic's invalid_request_error", () => {
  try {
    parseMessagesRequest({ model: "m", messages: hi });
    assert.fail("accepted a request without max_tokens");
  } catch (e) {
    assert.ok(e instanceof HttpError);
    assert.deepEqual(toAnthropicErrorBody(e), {
      type: "error",
      error: { type: "invalid_request_error", message: "max_tokens: is required" },
    });
  }
});

Deno.test("thinking variants are accepted", () => {
  for (
    const thinking of [
      { type: "enabled", budget_tokens: 1024 },
      { type: "enabled", budget_tokens: 1024, display: "omitted" },
      { type: "adaptive" },
      { type: "disabled" },
    ]
  ) {
    assert.ok(
      MessagesRequestSchema.safeParse({ ...base, thinking }).success,
      JSON.stringify(thinking),
    );
  }
});

Deno.test("count_tokens needs no max_tokens but validates the prompt", () => {
  assert.equal(parseCountTokensRequest({ model: "m", messages: hi }).messages.length, 1);
  assert.throws(
    () => parseCountTokensRequest({ model: "m", messages: [{ role: "user", content: 1 }] }),
    /messages\.0\.content: expected string or array/,
  );
});

Deno.test("a tool's input_schema must be a schema, nested within the bound", () => {
  let deep: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < 1_000; i++) deep = { type: "object", properties: { a: deep } };
  const body = (input_schema: unknown) => ({
    model: "m",
    max_tokens: 5,
    messages: hi,
    tools: [{ name: "t", input_schema }],
  });
  assert.match(messageFor(body(deep)) ?? "", /^tools\.0\.input_schema: is nested more than 64/);
  assert.match(
    messageFor(body({ type: "object", properties: { x: { type: "banana" } } })) ?? "",
    /^tools\.0\.input_schema: unknown type "banana" at \/properties\/x/,
  );
  assert.equal(messageFor(body({ type: "object", properties: { x: { type: "string" } } })), null);
});
