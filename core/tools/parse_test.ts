import assert from "node:assert/strict";
import { sequentialToolCallIds } from "./ids.ts";
import { parseToolCalls } from "./parse.ts";
import type { ToolFormat } from "./format.ts";

const tools = [{ function: { name: "get_weather" } }, { function: { name: "search" } }];

function parse(format: ToolFormat, text: string) {
  return parseToolCalls(text, { format, tools, newId: sequentialToolCallIds() });
}

Deno.test("calls come back in OpenAI's shape with injected ids", () => {
  const r = parse("hermes", '<tool_call>{"name": "search", "arguments": {"q": "x"}}</tool_call>');
  assert.deepEqual(r.toolCalls, [
    { id: "call_0", type: "function", function: { name: "search", arguments: '{"q": "x"}' } },
  ]);
  assert.equal(r.content, "");
  assert.deepEqual(r.issues, []);
});

Deno.test("random ids look like OpenAI's and differ", () => {
  const a = parseToolCalls('<tool_call>{"name": "search", "arguments": {}}</tool_call>', {
    format: "hermes",
  });
  const b = parseToolCalls('<tool_call>{"name": "search", "arguments": {}}</tool_call>', {
    format: "hermes",
  });
  assert.match(a.toolCalls[0].id, /^call_[A-Za-z0-9]{24}$/);
  assert.notEqual(a.toolCalls[0].id, b.toolCalls[0].id);
});

Deno.test("arguments missing or null-free shapes", () => {
  assert.equal(
    parse("hermes", '<tool_call>{"name": "search"}</tool_call>').toolCalls[0].function.arguments,
    "{}",
  );
  // A string that is not a JSON object is not arguments: the block stays content.
  const bad = '<tool_call>{"name": "search", "arguments": "q=x"}</tool_call>';
  assert.deepEqual(parse("hermes", bad), { content: bad, toolCalls: [], issues: [] });
  const arr = '<tool_call>{"name": "search", "arguments": [1]}</tool_call>';
  assert.equal(parse("hermes", arr).content, arr);
});

Deno.test("repairs are reported in issues", () => {
  const r = parse("hermes", '<tool_call>{"name": "search", "arguments": {"q": "a\tb"}</tool_call>');
  assert.equal(r.toolCalls[0].function.arguments, '{"q": "a\\tb"}');
  assert.ok(r.issues.some((i) => i.includes("control character")));
  assert.ok(r.issues.some((i) => i.includes("ended early")));
});

Deno.test("stray brace after the object is forgiven", () => {
  const r = parse("hermes", '<tool_call>{"name": "search", "arguments": {}}}</tool_call>');
  assert.equal(r.toolCalls.length, 1);
  assert.equal(r.content, "");
  assert.ok(r.issues.some((i) => i.includes("stray")));
});

Deno.test("a broken list element after good ones: good calls kept, the rest is content", () => {
  const r = parse("json", '[{"name": "search", "arguments": {}}, {"name": 5}]');
  assert.equal(r.toolCalls.length, 1);
  assert.equal(r.content, ', {"name": 5}]');
});

Deno.test("llama3: calls separated by newlines, text after them", () => {
  const r = parse(
    "llama3",
    '{"name": "search", "parameters": {"q": 1}}\n{"name": "get_weather", "parameters": {}}\nThanks',
  );
  assert.deepEqual(r.toolCalls.map((c) => c.function.name), ["search", "get_weather"]);
  assert.equal(r.content, "Thanks");
});

Deno.test("llama3: python tag with non-JSON (builtin tool code) stays content verbatim", () => {
  const text = '<|python_tag|>brave_search.call(query="x")';
  assert.deepEqual(parse("llama3", text), { content: text, toolCalls: [], issues: [] });
});

Deno.test("mistral: cut off before [ARGS] stays content; broken args end the call", () => {
  assert.equal(parse("mistral", "[TOOL_CALLS]search[AR").content, "[TOOL_CALLS]search[AR");
  const r = parse("mistral", '[TOOL_CALLS]search[ARGS]{"q": 1 2}[TOOL_CALLS]get_weather[ARGS]{}');
  assert.deepEqual(
    r.toolCalls.map((c) => [c.function.name, c.function.arguments]),
    [["search", '{"q": 1 }'], ["get_weather", "{}"]],
  );
  assert.equal(r.content, "");
});

Deno.test("json: a bare object whose first key is not a call streams out as text", () => {
  const r = parse("json", '{"result": {"name": "search"}}');
  assert.equal(r.content, '{"result": {"name": "search"}}');
  assert.equal(r.toolCalls.length, 0);
});
