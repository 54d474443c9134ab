import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { createSseParserStream } from "../sse.ts";
import { THINKING_SIGNATURE } from "./from_openai.ts";
import { type AnthropicStreamEvent, AnthropicStreamEventSchema } from "./response.ts";
import {
  anthropicSseFromOpenAI,
  AnthropicStreamTranslator,
  encodeAnthropicEvents,
} from "./stream.ts";

// ---------------------------------------------------------------------------------------
// Fixtures: upstream SSE bodies as an OpenAI-compatible server (llama.cpp, vLLM) sends them.

/** One chunk line as llama.cpp's server writes it (its field order, its fingerprint). */
function line(delta: Record<string, unknown>, finish: string | null = null, extra = {}): string {
  return `data: ${
    JSON.stringify({
      choices: [{ finish_reason: finish, index: 0, delta, ...extra }],
      created: 1735689600,
      id: "chatcmpl-Yk2rTq9",
      model: "Qwen3-8B-Q4_K_M.gguf",
      system_fingerprint: "b5000-f0d4e1a2",
      object: "chat.completion.chunk",
    })
  }\n\n`;
}

function usageLine(usage: Record<string, unknown>): string {
  return `data: ${
    JSON.stringify({
      choices: [],
      created: 1735689600,
      id: "chatcmpl-Yk2rTq9",
      model: "Qwen3-8B-Q4_K_M.gguf",
      system_fingerprint: "b5000-f0d4e1a2",
      object: "chat.completion.chunk",
      usage,
    })
  }\n\n`;
}

const DONE = "data: [DONE]\n\n";
const USAGE = usageLine({ completion_tokens: 7, prompt_tokens: 21, total_tokens: 28 });

/** An upstream body delivering `parts` as separate network chunks. */
function upstream(parts: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return ReadableStream.from(parts.map((p) => enc.encode(p)));
}

/** An upstream body that delivers `parts` and then fails like a dropped connection. */
function failingUpstream(parts: string[], reason: string): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < parts.length) controller.enqueue(enc.encode(parts[i++]));
      else controller.error(new Error(reason));
    },
  });
}

// ---------------------------------------------------------------------------------------
// Harness

function translator(
  options: Partial<ConstructorParameters<typeof AnthropicStreamTranslator>[0]> = {},
) {
  return new AnthropicStreamTranslator({ model: "qwen3", messageId: "msg_test", ...options });
}

/** Runs the translation and returns the Anthropic events it wrote (parsed back from SSE). */
async function events(
  body: ReadableStream<Uint8Array>,
  t = translator(),
): Promise<AnthropicStreamEvent[]> {
  const out: AnthropicStreamEvent[] = [];
  const sse = anthropicSseFromOpenAI(body, t).pipeThrough(createSseParserStream());
  for await (const msg of sse) {
    assert.equal(msg.type, "event");
    if (msg.type !== "event") continue;
    const ev = AnthropicStreamEventSchema.parse(JSON.parse(msg.data));
    assert.equal(msg.event, ev.type, "the SSE event name is the event type");
    out.push(ev);
  }
  assertProtocol(out);
  return out;
}

/**
 * Checks the Messages streaming protocol: message_start first, blocks opened with
 * consecutive indices, deltas only inside the open block and of its kind, a signature before
 * a thinking block stops, then message_delta and message_stop, or an error as the last event.
 */
function assertProtocol(evs: AnthropicStreamEvent[]): void {
  const real = evs.filter((e) => e.type !== "ping");
  if (real.length === 1 && real[0].type === "error") return;
  assert.equal(real[0]?.type, "message_start", "first event");
  let open: { index: number; kind: string; signed: boolean } | null = null;
  let next = 0;
  let ended = false;
  for (const ev of real.slice(1)) {
    assert.ok(!ended, `${ev.type} after the stream ended`);
    switch (ev.type) {
      case "content_block_start":
        assert.equal(open, null, "a block starts while another is open");
        assert.equal(ev.index, next++, "block indices are consecutive");
        open = { index: ev.index, kind: ev.content_block.type, signed: false };
        break;
      case "content_block_delta": {
        assert.ok(open, "delta outside an open block");
        assert.equal(ev.index, open.index, "delta for another block than the open one");
        const kinds: Record<string, string> = {
          text_delta: "text",
          thinking_delta: "thinking",
          signature_delta: "thinking",
          input_json_delta: "tool_use",
        };
        assert.equal(kinds[ev.delta.type], open.kind, `${ev.delta.type} in a ${open.kind} block`);
        if (ev.delta.type === "signature_delta") open.signed = true;
        else assert.ok(!open.signed, "delta after the signature");
        break;
      }
      case "content_block_stop":
        assert.ok(open, "stop without an open block");
        assert.equal(ev.index, open.index);
        if (open.kind === "thinking") assert.ok(open.signed, "thinking block stopped unsigned");
        open = null;
        break;
      case "message_delta":
        assert.equal(open, null, "message_delta with a block open");
        break;
      case "message_stop":
        assert.equal(real.at(-2)?.type, "message_delta", "message_stop follows message_delta");
        ended = true;
        break;
      case "error":
        ended = true;
        break;
      case "message_start":
        assert.fail("second message_start");
    }
  }
  assert.ok(ended, "stream ends with message_stop or error");
}

/** Feeds `body` to the official SDK's stream accumulator, as a client would receive it. */
function sdkStream(body: ReadableStream<Uint8Array>) {
  const client = new Anthropic({
    apiKey: "k",
    baseURL: "http://cortex.invalid",
    maxRetries: 0,
    fetch: () =>
      Promise.resolve(new Response(body, { headers: { "content-type": "text/event-stream" } })),
  });
  return client.messages.stream({
    model: "qwen3",
    max_tokens: 1024,
    messages: [{ role: "user", content: "hi" }],
  });
}

function sdkFinal(parts: string[], t = translator()) {
  return sdkStream(anthropicSseFromOpenAI(upstream(parts), t)).finalMessage();
}

const types = (evs: AnthropicStreamEvent[]) =>
  evs.map((e) =>
    e.type === "content_block_delta"
      ? `delta:${e.delta.type}`
      : e.type === "content_block_start"
      ? `start:${e.content_block.type}`
      : e.type
  );

// ---------------------------------------------------------------------------------------
// Recorded sequences

const PLAIN = [
  line({ role: "assistant", content: null }),
  line({ content: "Hel" }),
  line({ content: "lo" }),
  line({ content: ", world." }),
  line({}, "stop"),
  USAGE,
  DONE,
];

Deno.test("plain text: the exact event sequence", async () => {
  const evs = await events(upstream(PLAIN));
  assert.deepEqual(types(evs), [
    "message_start",
    "start:text",
    "delta:text_delta",
    "delta:text_delta",
    "delta:text_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
  ]);
  assert.deepEqual(evs[0], {
    type: "message_start",
    message: {
      id: "msg_test",
      type: "message",
      role: "assistant",
      model: "qwen3",
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0 },
    },
  });
  assert.deepEqual(evs.at(-2), {
    type: "message_delta",
    delta: { stop_reason: "end_turn", stop_sequence: null },
    usage: {
      input_tokens: 21,
      output_tokens: 7,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    },
  });
});

Deno.test("message_start reports the server tools the translation left out", () => {
  const dropped = [{ name: "web_search", type: "web_search_20250305" }];
  const [start] = new AnthropicStreamTranslator({ model: "m", droppedTools: dropped }).start();
  assert.ok(AnthropicStreamEventSchema.safeParse(start).success);
  assert.deepEqual(start.type === "message_start" && start.message.cortex_dropped_tools, dropped);
  const [plain] = new AnthropicStreamTranslator({ model: "m" }).start();
  assert.ok(plain.type === "message_start" && !("cortex_dropped_tools" in plain.message));
});

Deno.test("plain text: the SDK accumulates the message", async () => {
  const msg = await sdkFinal(PLAIN);
  assert.equal(msg.id, "msg_test");
  assert.deepEqual(msg.content, [{ type: "text", text: "Hello, world." }]);
  assert.equal(msg.stop_reason, "end_turn");
  assert.equal(msg.usage.input_tokens, 21);
  assert.equal(msg.usage.output_tokens, 7);
});

const REASONING = [
  line({ role: "assistant", content: null }),
  line({ reasoning_content: "The user" }),
  line({ reasoning_content: " greets me." }),
  line({ content: "Hi" }),
  line({ content: " there!" }),
  line({}, "stop"),
  usageLine({
    completion_tokens: 9,
    prompt_tokens: 30,
    total_tokens: 39,
    completion_tokens_details: { reasoning_tokens: 5 },
  }),
  DONE,
];

Deno.test("reasoning then text: a signed thinking block, then a text block", async () => {
  const evs = await events(upstream(REASONING));
  assert.deepEqual(types(evs), [
    "message_start",
    "start:thinking",
    "delta:thinking_delta",
    "delta:thinking_delta",
    "delta:signature_delta",
    "content_block_stop",
    "start:text",
    "delta:text_delta",
    "delta:text_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
  ]);
  const msg = await sdkFinal(REASONING);
  assert.deepEqual(msg.content, [
    { type: "thinking", thinking: "The user greets me.", signature: THINKING_SIGNATURE },
    { type: "text", text: "Hi there!" },
  ]);
  assert.deepEqual(msg.usage.output_tokens_details, { thinking_tokens: 5 });
});

Deno.test("thinking not requested: reasoning is left out, the text block is index 0", async () => {
  const evs = await events(upstream(REASONING), translator({ thinking: false }));
  assert.deepEqual(types(evs), [
    "message_start",
    "start:text",
    "delta:text_delta",
    "delta:text_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
  ]);
  const msg = await sdkFinal(REASONING, translator({ thinking: false }));
  assert.deepEqual(msg.content, [{ type: "text", text: "Hi there!" }]);
  // The reasoning was generated: it still counts as output.
  assert.equal(msg.usage.output_tokens, 9);
});

const ARGS = '{"path": "src/main.ts", "pattern": "WARN\\\\(", "flags": ["-n", "-i"], "limit": 50}';

/** A tool call whose arguments arrive in `n`-character pieces, after some text. */
function toolCallSequence(n: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < ARGS.length; i += n) pieces.push(ARGS.slice(i, i + n));
  return [
    line({ role: "assistant", content: null }),
    line({ content: "Searching." }),
    line({
      tool_calls: [{
        index: 0,
        id: "call_q8Zr",
        type: "function",
        function: { name: "grep", arguments: "" },
      }],
    }),
    ...pieces.map((p) => line({ tool_calls: [{ index: 0, function: { arguments: p } }] })),
    line({}, "tool_calls"),
    USAGE,
    DONE,
  ];
}

Deno.test("a tool call whose JSON arguments arrive in many pieces", async () => {
  const seq = toolCallSequence(3);
  const evs = await events(upstream(seq));
  const deltas = evs.filter((e) =>
    e.type === "content_block_delta" && e.delta.type === "input_json_delta"
  );
  assert.equal(deltas.length, Math.ceil(ARGS.length / 3));
  assert.deepEqual(evs[4], {
    type: "content_block_start",
    index: 1,
    content_block: { type: "tool_use", id: "call_q8Zr", name: "grep", input: {} },
  });
  const msg = await sdkFinal(seq);
  assert.equal(msg.stop_reason, "tool_use");
  assert.deepEqual(msg.content, [
    { type: "text", text: "Searching." },
    { type: "tool_use", id: "call_q8Zr", name: "grep", input: JSON.parse(ARGS) },
  ]);
});

const PARALLEL = [
  line({ role: "assistant", content: null }),
  line({
    tool_calls: [{
      index: 0,
      id: "call_a",
      type: "function",
      function: { name: "get_weather", arguments: "" },
    }],
  }),
  line({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  line({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }),
  line({
    tool_calls: [{
      index: 1,
      id: "call_b",
      type: "function",
      function: { name: "get_weather", arguments: "" },
    }],
  }),
  line({ tool_calls: [{ index: 1, function: { arguments: '{"city":"Ber' } }] }),
  line({ tool_calls: [{ index: 1, function: { arguments: 'gen"}' } }] }),
  line({}, "tool_calls"),
  USAGE,
  DONE,
];

Deno.test("two parallel tool calls become two tool_use blocks", async () => {
  const evs = await events(upstream(PARALLEL));
  assert.deepEqual(types(evs).filter((t) => t.startsWith("start:")), [
    "start:tool_use",
    "start:tool_use",
  ]);
  const msg = await sdkFinal(PARALLEL);
  assert.deepEqual(msg.content, [
    { type: "tool_use", id: "call_a", name: "get_weather", input: { city: "Oslo" } },
    { type: "tool_use", id: "call_b", name: "get_weather", input: { city: "Bergen" } },
  ]);
  assert.equal(msg.stop_reason, "tool_use");
});

Deno.test("a matched stop string is reported as stop_sequence", async () => {
  const seq = [
    line({ content: "42" }),
    line({}, "stop", { stop_reason: "</answer>" }),
    USAGE,
    DONE,
  ];
  const evs = await events(upstream(seq));
  const delta = evs.find((e) => e.type === "message_delta");
  assert.deepEqual(delta?.type === "message_delta" && delta.delta, {
    stop_reason: "stop_sequence",
    stop_sequence: "</answer>",
  });
  const msg = await sdkFinal(seq);
  assert.equal(msg.stop_reason, "stop_sequence");
  assert.equal(msg.stop_sequence, "</answer>");
});

Deno.test("finish_reason length is max_tokens", async () => {
  const msg = await sdkFinal([
    line({ content: "a long" }),
    line({ content: " answ" }),
    line({}, "length"),
    USAGE,
    DONE,
  ]);
  assert.equal(msg.stop_reason, "max_tokens");
  assert.deepEqual(msg.content, [{ type: "text", text: "a long answ" }]);
});

Deno.test("usage: known input tokens at start, cache reads and real counts at the end", async () => {
  const seq = [
    line({ content: "ok" }),
    line({}, "stop"),
    usageLine({
      completion_tokens: 2,
      prompt_tokens: 500,
      total_tokens: 502,
      prompt_tokens_details: { cached_tokens: 480 },
    }),
    DONE,
  ];
  const evs = await events(upstream(seq), translator({ inputTokens: 500 }));
  assert.equal(evs[0].type === "message_start" && evs[0].message.usage.input_tokens, 500);
  const msg = await sdkFinal(seq);
  assert.equal(msg.usage.input_tokens, 20);
  assert.equal(msg.usage.cache_read_input_tokens, 480);
  assert.equal(msg.usage.output_tokens, 2);
});

Deno.test("usage missing upstream: output_tokens 0 rather than an invented count", async () => {
  const evs = await events(upstream([line({ content: "x" }), line({}, "stop"), DONE]));
  const delta = evs.find((e) => e.type === "message_delta");
  assert.deepEqual(delta?.type === "message_delta" && delta.usage, { output_tokens: 0 });
});

Deno.test("upstream connection failure mid-stream: an api_error event ends the stream", async () => {
  const parts = [line({ content: "Partial" }), line({ content: " answer" })];
  const evs = await events(failingUpstream(parts, "connection reset by peer"));
  assert.deepEqual(evs.at(-1), {
    type: "error",
    error: { type: "api_error", message: "upstream stream failed: connection reset by peer" },
  });
  assert.ok(!evs.some((e) => e.type === "message_stop"));

  const stream = sdkStream(
    anthropicSseFromOpenAI(failingUpstream(parts, "connection reset by peer"), translator()),
  );
  const err = await stream.finalMessage().catch((e) => e);
  assert.ok(err instanceof Anthropic.APIError, String(err));
  assert.equal(err.type, "api_error");
  assert.match(err.message, /connection reset by peer/);
});

Deno.test("an error the upstream reports in its stream keeps its overloaded type", async () => {
  const seq = [
    line({ content: "Par" }),
    `data: ${
      JSON.stringify({
        error: { message: "node is overloaded", type: "overloaded_error", code: 503 },
      })
    }\n\n`,
  ];
  const evs = await events(upstream(seq));
  assert.deepEqual(evs.at(-1), {
    type: "error",
    error: { type: "overloaded_error", message: "node is overloaded" },
  });
  const err = await sdkFinal(seq).catch((e) => e);
  assert.ok(err instanceof Anthropic.APIError);
  assert.equal(err.type, "overloaded_error");
});

Deno.test("a stream cut before finish_reason is an error; a complete one without [DONE] is fine", async () => {
  const cut = await events(upstream([line({ content: "Half" })]));
  assert.equal(cut.at(-1)?.type, "error");
  assert.match(JSON.stringify(cut.at(-1)), /ended before the response was complete/);

  const noDone = await events(upstream([line({ content: "Whole" }), line({}, "stop"), USAGE]));
  assert.equal(noDone.at(-1)?.type, "message_stop");
});

Deno.test("garbage from upstream becomes an error event, not a crash", async () => {
  const notJson = await events(upstream([line({ content: "a" }), "data: {oops\n\n"]));
  assert.match(JSON.stringify(notJson.at(-1)), /not JSON/);
  const malformed = await events(
    upstream([
      `data: ${
        JSON.stringify({ id: "x", object: "chat.completion.chunk", created: 1, model: "m" })
      }\n\n`,
    ]),
  );
  assert.match(JSON.stringify(malformed.at(-1)), /malformed chunk \(at choices\)/);
});

Deno.test("pings before and during the stream are ignored by the SDK", async () => {
  const t = translator();
  // The gateway's cold-load path: message_start and pings go out before upstream answers.
  const head = encodeAnthropicEvents([...t.start(), ...t.ping(), ...t.ping()]);
  const body = anthropicSseFromOpenAI(upstream(PLAIN), t);
  const reader = body.getReader();
  const joined = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(head);
    },
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
  const msg = await sdkStream(joined).finalMessage();
  assert.deepEqual(msg.content, [{ type: "text", text: "Hello, world." }]);
  assert.equal(t.start().length, 0, "message_start is sent once");
});

Deno.test("tool call arguments before the name are held until the block opens", () => {
  const t = translator();
  const chunk = (tool: Record<string, unknown>, finish: "tool_calls" | null = null) => ({
    id: "c",
    object: "chat.completion.chunk" as const,
    created: 1,
    model: "m",
    choices: [{ index: 0, delta: { tool_calls: [{ index: 0, ...tool }] }, finish_reason: finish }],
  });
  const first = t.push(chunk({ id: "call_1", function: { arguments: '{"a"' } }));
  assert.deepEqual(first.map((e) => e.type), ["message_start"]);
  const second = t.push(chunk({ function: { name: "f", arguments: ":1}" } }));
  assert.deepEqual(second, [
    {
      type: "content_block_start",
      index: 0,
      content_block: { type: "tool_use", id: "call_1", name: "f", input: {} },
    },
    {
      type: "content_block_delta",
      index: 0,
      delta: { type: "input_json_delta", partial_json: '{"a":1}' },
    },
  ]);
  const all = [...first, ...second, ...t.push(chunk({}, "tool_calls")), ...t.finish()];
  assertProtocol(all);
});

Deno.test("arguments for a tool call whose block already closed end the stream with an error", () => {
  const t = translator();
  const base = { id: "c", object: "chat.completion.chunk" as const, created: 1, model: "m" };
  const evs = [
    ...t.push({
      ...base,
      choices: [{
        index: 0,
        delta: { tool_calls: [{ index: 0, id: "a", function: { name: "f", arguments: "{" } }] },
      }],
    }),
    ...t.push({ ...base, choices: [{ index: 0, delta: { content: "interleaved text" } }] }),
    ...t.push({
      ...base,
      choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: "}" } }] } }],
    }),
  ];
  assertProtocol(evs);
  assert.equal(evs.at(-1)?.type, "error");
  assert.equal(t.ended, true);
  assert.deepEqual(t.push({ ...base, choices: [] }), []);
});

Deno.test("a tool call that never names its function is an error at the end", () => {
  const t = translator();
  t.push({
    id: "c",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: "{}" } }] } }],
  });
  const end = t.finish();
  assert.equal(end.at(-1)?.type, "error");
});

Deno.test("an empty answer still yields a well-formed message", async () => {
  const evs = await events(
    upstream([line({ role: "assistant", content: "" }), line({}, "stop"), USAGE, DONE]),
  );
  assert.deepEqual(types(evs), ["message_start", "message_delta", "message_stop"]);
  const msg = await sdkFinal([line({}, "stop"), DONE]);
  assert.deepEqual(msg.content, []);
});

Deno.test("cancelling the Anthropic stream cancels the upstream", async () => {
  let cancelled: unknown = null;
  const enc = new TextEncoder();
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(enc.encode(line({ content: "tick" })));
    },
    cancel(reason) {
      cancelled = reason ?? "cancelled";
    },
  });
  const reader = anthropicSseFromOpenAI(source, translator()).getReader();
  await reader.read();
  await reader.cancel("client went away");
  assert.equal(cancelled, "client went away");
});
