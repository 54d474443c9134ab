import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { HttpError } from "../errors.ts";
import { type ChatCompletion, ChatCompletionSchema } from "../openai/chat.ts";
import {
  anthropicStopReason,
  anthropicUsage,
  messageIdFrom,
  openAIToAnthropic,
  THINKING_SIGNATURE,
  toolUseId,
} from "./from_openai.ts";
import { parseMessagesRequest } from "./request.ts";
import { AnthropicMessageSchema } from "./response.ts";
import { anthropicToOpenAI } from "./to_openai.ts";

function completion(
  message: Record<string, unknown>,
  finish: string,
  extra: Record<string, unknown> = {},
): ChatCompletion {
  return ChatCompletionSchema.parse({
    id: "chatcmpl-AbC123",
    object: "chat.completion",
    created: 1700000000,
    model: "Qwen3-8B-Q4_K_M.gguf",
    choices: [{
      index: 0,
      message: { role: "assistant", ...message },
      finish_reason: finish,
      ...extra,
    }],
    usage: { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52 },
  });
}

Deno.test("text answer → end_turn message with usage and a msg_ id", () => {
  const msg = openAIToAnthropic(completion({ content: "Hello!" }, "stop"), "qwen3");
  assert.deepEqual(msg, {
    id: "msg_AbC123",
    type: "message",
    role: "assistant",
    model: "qwen3",
    content: [{ type: "text", text: "Hello!" }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: {
      input_tokens: 40,
      output_tokens: 12,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    },
  });
  assert.ok(AnthropicMessageSchema.safeParse(msg).success);
});

Deno.test("reasoning, text and tool calls → thinking, text, tool_use blocks in that order", () => {
  const msg = openAIToAnthropic(
    completion({
      content: "Let me check.",
      reasoning_content: "User wants weather.",
      tool_calls: [
        {
          id: "call_1",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
        },
        { id: "call_2", type: "function", function: { name: "get_time", arguments: "" } },
      ],
    }, "tool_calls"),
    "qwen3",
  );
  assert.deepEqual(msg.content, [
    { type: "thinking", thinking: "User wants weather.", signature: THINKING_SIGNATURE },
    { type: "text", text: "Let me check." },
    { type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Oslo" } },
    { type: "tool_use", id: "call_2", name: "get_time", input: {} },
  ]);
  assert.equal(msg.stop_reason, "tool_use");
});

Deno.test("thinking not requested: reasoning the model produced anyway is left out", () => {
  const resp = completion({ content: "Hi.", reasoning_content: "Greeting." }, "stop");
  const msg = openAIToAnthropic(resp, "qwen3", { thinking: false });
  assert.deepEqual(msg.content, [{ type: "text", text: "Hi." }]);
  assert.equal(msg.usage.output_tokens, 12);
  const kept = openAIToAnthropic(resp, "qwen3", { thinking: true });
  assert.deepEqual(kept.content[0], {
    type: "thinking",
    thinking: "Greeting.",
    signature: THINKING_SIGNATURE,
  });
});

Deno.test("stop reasons: stop_sequence, max_tokens, refusal, stop-with-tools", () => {
  const seq = openAIToAnthropic(
    completion({ content: "a" }, "stop", { stop_reason: "</end>" }),
    "m",
  );
  assert.equal(seq.stop_reason, "stop_sequence");
  assert.equal(seq.stop_sequence, "</end>");
  // A numeric stop_reason is a stop token (EOS), not a stop sequence.
  const eos = openAIToAnthropic(completion({ content: "a" }, "stop", { stop_reason: 151645 }), "m");
  assert.equal(eos.stop_reason, "end_turn");
  assert.equal(eos.stop_sequence, null);
  assert.equal(
    openAIToAnthropic(completion({ content: "a" }, "length"), "m").stop_reason,
    "max_tokens",
  );
  assert.equal(
    openAIToAnthropic(completion({ content: "" }, "content_filter"), "m").stop_reason,
    "refusal",
  );
  const stopWithTools = completion({
    content: null,
    tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{}" } }],
  }, "stop");
  assert.equal(openAIToAnthropic(stopWithTools, "m").stop_reason, "tool_use");
  assert.deepEqual(anthropicStopReason(null, null, false), {
    stop_reason: "end_turn",
    stop_sequence: null,
  });
});

Deno.test("server tools left out are reported on the message, and only then", () => {
  const c = completion({ content: "ok" }, "stop");
  const dropped = [{ name: "web_search", type: "web_search_20250305" }];
  const m = openAIToAnthropic(c, "m", { droppedTools: dropped });
  assert.deepEqual(m.cortex_dropped_tools, dropped);
  assert.ok(AnthropicMessageSchema.safeParse(m).success);
  assert.ok(!("cortex_dropped_tools" in openAIToAnthropic(c, "m", { droppedTools: [] })));
});

Deno.test("invalid tool JSON is passed on raw rather than replaced by {}", () => {
  const msg = openAIToAnthropic(
    completion({
      content: null,
      tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: '{"a": 1' } }],
    }, "tool_calls"),
    "m",
  );
  assert.deepEqual(msg.content, [{ type: "tool_use", id: "c", name: "f", input: '{"a": 1' }]);
});

Deno.test("usage: cached prompt tokens become cache reads, reasoning tokens thinking tokens", () => {
  assert.deepEqual(
    anthropicUsage({
      prompt_tokens: 100,
      completion_tokens: 30,
      total_tokens: 130,
      prompt_tokens_details: { cached_tokens: 64 },
      completion_tokens_details: { reasoning_tokens: 20 },
    }),
    {
      input_tokens: 36,
      output_tokens: 30,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 64,
      output_tokens_details: { thinking_tokens: 20 },
    },
  );
});

Deno.test("ids: derived message ids and tool ids that match Anthropic's pattern", () => {
  assert.equal(messageIdFrom("chatcmpl-xyz"), "msg_xyz");
  assert.match(messageIdFrom("chatcmpl-"), /^msg_[A-Za-z0-9]{24}$/);
  assert.equal(toolUseId("call_ok-1"), "call_ok-1");
  assert.equal(toolUseId("call:1/2"), "call_1_2");
  assert.match(toolUseId(undefined), /^toolu_[A-Za-z0-9]{24}$/);
});

Deno.test("a completion without choices is an upstream failure (502)", () => {
  const empty = { ...completion({ content: "x" }, "stop"), choices: [] };
  assert.throws(
    () => openAIToAnthropic(empty, "m"),
    (e) => e instanceof HttpError && e.status === 502,
  );
});

Deno.test("the SDK reads the message, and sending it back translates to the same tool calls", async () => {
  const msg = openAIToAnthropic(
    completion({
      content: null,
      reasoning_content: "think",
      tool_calls: [{
        id: "call_7",
        type: "function",
        function: { name: "f", arguments: '{"x":[1,2]}' },
      }],
    }, "tool_calls"),
    "qwen3",
  );
  const client = new Anthropic({
    apiKey: "k",
    baseURL: "http://cortex.invalid",
    maxRetries: 0,
    fetch: () => Promise.resolve(Response.json(msg)),
  });
  const got = await client.messages.create({
    model: "qwen3",
    max_tokens: 9,
    messages: [{ role: "user", content: "go" }],
  });
  // Claude Code's loop: the assistant message goes back verbatim with the tool result.
  const next = parseMessagesRequest({
    model: "qwen3",
    max_tokens: 9,
    messages: [
      { role: "user", content: "go" },
      { role: "assistant", content: got.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "call_7", content: "ok" }] },
    ],
  });
  const { request } = anthropicToOpenAI(next);
  assert.deepEqual(request.messages.slice(1), [
    {
      role: "assistant",
      content: "",
      reasoning_content: "think",
      tool_calls: [{
        id: "call_7",
        type: "function",
        function: { name: "f", arguments: '{"x":[1,2]}' },
      }],
    },
    { role: "tool", tool_call_id: "call_7", content: "ok" },
  ]);
});
