import { assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  ChatRequestSchema,
  keepAliveUnloads,
  ollamaChatToOpenAI,
  OllamaStreamTranslator,
  parseOllama,
} from "./mod.ts";

const ctx = { contextLength: 4096 };

Deno.test("ollama request: tool calls round-trip, format, think and options map", () => {
  const req = parseOllama(ChatRequestSchema, {
    model: "m",
    messages: [
      { role: "user", content: "hi" },
      {
        role: "assistant",
        content: "",
        thinking: "hmm",
        tool_calls: [{ function: { name: "f", arguments: { a: 1 } } }],
      },
      { role: "tool", content: "2", tool_name: "f" },
    ],
    format: "json",
    think: "high",
    stream: false,
    options: { num_predict: 5, top_k: 3, num_ctx: 4096 },
  });
  const out = ollamaChatToOpenAI(req, ctx);
  assertEquals(out.messages[1], {
    role: "assistant",
    content: "",
    reasoning_content: "hmm",
    tool_calls: [{ id: "call_0", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
  });
  assertEquals(out.messages[2], { role: "tool", tool_call_id: "call_0", content: "2" });
  assertEquals(out.response_format, { type: "json_object" });
  assertEquals(out.chat_template_kwargs, { enable_thinking: true });
  assertEquals(out.reasoning_effort, "high");
  assertEquals([out.max_tokens, out.top_k, out.stream], [5, 3, undefined]);
});

Deno.test("ollama request: num_ctx beyond the context and keep_alive durations are 400s", () => {
  const req = parseOllama(ChatRequestSchema, {
    model: "m",
    messages: [{ role: "user", content: "hi" }],
    options: { num_ctx: 8192 },
  });
  assertThrows(() => ollamaChatToOpenAI(req, ctx), /num_ctx 8192/);
  assertEquals([keepAliveUnloads(undefined), keepAliveUnloads(0), keepAliveUnloads("0s")], [
    false,
    true,
    true,
  ]);
  assertThrows(() => keepAliveUnloads("5m"), /not supported/);
  assertThrows(() => keepAliveUnloads(-1), /not supported/);
});

Deno.test("ollama stream: text passes on, tool calls arrive whole, the end carries counters", () => {
  const t = new OllamaStreamTranslator({
    shape: "chat",
    model: "m",
    thinking: true,
    durations: () => ({
      total_duration: 4,
      load_duration: 1,
      prompt_eval_duration: 1,
      eval_duration: 2,
    }),
  });
  const chunk = (delta: unknown, finish: string | null = null, usage?: unknown) =>
    ({
      id: "c",
      object: "chat.completion.chunk" as const,
      created: 0,
      model: "m",
      choices: [{ index: 0, delta, finish_reason: finish }],
      ...(usage ? { usage } : {}),
      // deno-lint-ignore no-explicit-any
    }) as any;
  assertEquals(t.push(chunk({ content: "a" })).map((l) => (l as { message: unknown }).message), [
    { role: "assistant", content: "a" },
  ]);
  assertEquals(
    t.push(chunk({ tool_calls: [{ index: 0, function: { name: "f", arguments: "{" } }] })),
    [],
  );
  const calls = t.push(
    chunk({ tool_calls: [{ index: 0, function: { arguments: '"x":1}' } }] }, "tool_calls"),
  );
  assertEquals((calls[0] as { message: { tool_calls: unknown } }).message.tool_calls, [
    { function: { name: "f", arguments: { x: 1 } } },
  ]);
  t.push(chunk({}, null, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }));
  const [end] = t.finish() as Record<string, unknown>[];
  assertEquals([end.done, end.done_reason, end.prompt_eval_count, end.eval_count], [
    true,
    "stop",
    3,
    2,
  ]);
  assertEquals(t.fail("late"), []);
});
