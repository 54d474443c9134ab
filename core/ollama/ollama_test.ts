import { assertEquals, assertThrows } from "../../tests/assert.ts";
import { HttpError } from "../errors.ts";
import {
  ChatRequestSchema,
  EmbedRequestSchema,
  expiresAt,
  GenerateRequestSchema,
  ollamaChatToOpenAI,
  ollamaDetails,
  OllamaStreamTranslator,
  parameterSize,
  parametersText,
  parseKeepAlive,
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

Deno.test("ollama request: options.speculative maps; a bad value or a top-level one is a 400", () => {
  const messages = [{ role: "user", content: "hi" }];
  const req = parseOllama(ChatRequestSchema, {
    model: "m",
    messages,
    options: { speculative: "ngram" },
  });
  assertEquals(ollamaChatToOpenAI(req, ctx).speculative, "ngram");
  const refused = (body: Record<string, unknown>) => {
    const e = assertThrows(() => parseOllama(ChatRequestSchema, { model: "m", messages, ...body }));
    assertEquals((e as HttpError).status, 400);
    return e as HttpError;
  };
  assertEquals(refused({ options: { speculative: "banana" } }).param, "options.speculative");
  // Embeddings generate nothing: refused there, not ignored.
  const embed = assertThrows(() =>
    parseOllama(EmbedRequestSchema, { model: "m", input: "x", options: { speculative: "ngram" } })
  ) as HttpError;
  assertEquals([embed.status, embed.param], [400, "options"]);
  const top = refused({ speculative: "ngram" });
  assertEquals(top.param, "speculative");
  assertEquals(/options\.speculative/.test(top.message), true, top.message);
});

Deno.test("ollama request: a bad format schema is a 400 naming format, not response_format", () => {
  const messages = [{ role: "user", content: "hi" }];
  let deep: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < 2000; i++) deep = { type: "array", items: deep };
  const dangling = { type: "object", properties: { a: { $ref: "#/nope" } } };
  for (const format of [{ type: "nonsense" }, deep, dangling]) {
    for (const schema of [ChatRequestSchema, GenerateRequestSchema]) {
      const e = assertThrows(() =>
        parseOllama(schema, { model: "m", messages, prompt: "p", format })
      ) as HttpError;
      assertEquals([e.status, e.param], [400, "format"]);
      assertEquals(/^format: /.test(e.message), true, e.message);
      assertEquals(/response_format/.test(e.message), false, e.message);
    }
  }
  assertEquals(
    assertThrows(() => parseOllama(ChatRequestSchema, { model: "m", format: { type: "nonsense" } }))
      .message.includes('"nonsense"'),
    true,
  );
  // A valid schema still maps to response_format.
  const ok = parseOllama(ChatRequestSchema, {
    model: "m",
    messages,
    format: { type: "object", properties: { a: { type: "string" } } },
  });
  assertEquals(ollamaChatToOpenAI(ok, ctx).response_format?.type, "json_schema");
});

Deno.test("ollama request: num_predict -1 and -2 leave the limit open; below -2 is a 400", () => {
  const messages = [{ role: "user", content: "hi" }];
  for (const num_predict of [-1, -2]) {
    const req = parseOllama(ChatRequestSchema, { model: "m", messages, options: { num_predict } });
    assertEquals(ollamaChatToOpenAI(req, ctx).max_tokens, undefined);
  }
  const e = assertThrows(() =>
    parseOllama(ChatRequestSchema, { model: "m", messages, options: { num_predict: -7 } })
  ) as HttpError;
  assertEquals([e.status, e.param], [400, "options.num_predict"]);
  assertEquals(/^options\.num_predict: /.test(e.message), true, e.message);
});

Deno.test("ollama request: num_ctx beyond the context is a 400", () => {
  const req = parseOllama(ChatRequestSchema, {
    model: "m",
    messages: [{ role: "user", content: "hi" }],
    options: { num_ctx: 8192 },
  });
  assertThrows(() => ollamaChatToOpenAI(req, ctx), /num_ctx 8192/);
});

Deno.test("ollama keep_alive: 0 unloads, durations and seconds set a TTL, negative is never", () => {
  assertEquals(
    [undefined, 0, "0s", "5m", "1h30m", 90, 1.5, -1, "-1m"].map((v) => parseKeepAlive(v)),
    [undefined, 0, 0, 300_000, 5_400_000, 90_000, 1_500, Infinity, Infinity],
  );
  for (const bad of ["soon", "10", "5 parsecs", "-"]) {
    const e = assertThrows(() => parseKeepAlive(bad), /is not a duration/) as HttpError;
    assertEquals([e instanceof HttpError, e.status, e.param], [true, 400, "keep_alive"]);
  }
});

Deno.test("ollama model info: details from GGUF facts, sizes as Ollama writes them", () => {
  assertEquals(
    [8_030_261_248, 7e9, 494_032_768, 3e6, 135_168, 999].map(parameterSize),
    ["8.0B", "7B", "494.03M", "3M", "135K", "999"],
  );
  assertEquals(
    ollamaDetails(
      { architecture: "qwen2", parameter_count: 494_032_768, quantization: "Q4_K_M" },
      "x",
    ),
    {
      parent_model: "",
      format: "gguf",
      family: "qwen2",
      families: ["qwen2"],
      parameter_size: "494.03M",
      quantization_level: "Q4_K_M",
    },
  );
  // An older neuron reports none of them: the file name's tag, and empty strings.
  const old = ollamaDetails({}, "org/Model-Q5_K_S");
  assertEquals([old.family, old.parameter_size, old.quantization_level], ["", "", "Q5_K_S"]);
  assertEquals(expiresAt(Date.UTC(2030, 0, 1), 0), "2030-01-01T00:00:00.000Z");
  // Never: Go's largest Duration after now, as Ollama answers for a negative keep_alive.
  assertEquals(expiresAt(null, Date.UTC(2026, 0, 1)).slice(0, 4), "2318");
  assertEquals(
    parametersText({ num_ctx: 2048, temperature: 0.2, stop: ["a", "b"], top_k: undefined }),
    [
      `num_ctx${" ".repeat(23)} 2048`,
      `temperature${" ".repeat(19)} 0.2`,
      `stop${" ".repeat(26)} "a"`,
      `stop${" ".repeat(26)} "b"`,
    ].join("\n"),
  );
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
