import assert from "node:assert/strict";
import { ChatCompletionChunkSchema, ToolCallDeltaSchema } from "../openai/mod.ts";
import { ToolCallCollector, toOpenAIToolCallDelta } from "./collect.ts";
import { sequentialToolCallIds } from "./ids.ts";
import { ToolCallStreamParser } from "./stream_parser.ts";

Deno.test("events become OpenAI tool_call deltas: id and name first, then arguments", () => {
  const parser = new ToolCallStreamParser({
    format: "hermes",
    newId: sequentialToolCallIds(),
  });
  const events = [
    ...parser.push('Hi <tool_call>{"name": "a", "arguments": {"x": '),
    ...parser.push('1}}</tool_call><tool_call>{"name": "b", "arguments": {}}</tool_call>'),
    ...parser.finish().events,
  ];
  const deltas = events.map(toOpenAIToolCallDelta).filter((d) => d !== undefined);
  assert.deepEqual(deltas, [
    { index: 0, id: "call_0", type: "function", function: { name: "a", arguments: "" } },
    { index: 0, function: { arguments: "{" } },
    { index: 0, function: { arguments: '"x": 1}' } },
    { index: 1, id: "call_1", type: "function", function: { name: "b", arguments: "" } },
    { index: 1, function: { arguments: "{}" } },
  ]);
  for (const d of deltas) ToolCallDeltaSchema.parse(d);
  // They fit a chat.completion.chunk as the API sends it.
  ChatCompletionChunkSchema.parse({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    choices: [{ index: 0, delta: { tool_calls: [deltas[0]] }, finish_reason: null }],
  });

  const c = new ToolCallCollector();
  c.add(events);
  assert.equal(c.content, "Hi");
  assert.deepEqual(c.toolCalls.map((t) => [t.id, t.function.name, t.function.arguments]), [
    ["call_0", "a", '{"x": 1}'],
    ["call_1", "b", "{}"],
  ]);
});

Deno.test("text and end events make no delta", () => {
  assert.equal(toOpenAIToolCallDelta({ type: "text", text: "x" }), undefined);
  assert.equal(toOpenAIToolCallDelta({ type: "tool_call_end", index: 0 }), undefined);
});
