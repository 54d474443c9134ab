/**
 * The Anthropic Messages API end to end: the official `@anthropic-ai/sdk` against the
 * gateway (`cli/cortex.ts serve`) in front of a real neuron process (`cli/neuron.ts serve`)
 * serving the `<think>` and `[THINK]` fixtures.
 *
 * The fixtures have random weights, so answers are made deterministic with `temperature: 0`
 * and, where the test needs a particular shape (reasoning that ends, a stop sequence that
 * occurs), with a GBNF grammar the shim between gateway and neuron adds to the translated
 * request (see e2e_support/grammar_shim.ts): the Messages API has no grammar field.
 */

import Anthropic from "@anthropic-ai/sdk";
import { AnthropicMessageSchema, AnthropicStreamEventSchema } from "../../core/anthropic/mod.ts";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import {
  markerTokens,
  type ReasoningModel,
  type Stack,
  startStack,
  thinkThenAnswer,
  withGrammar,
} from "./e2e_support/mod.ts";

const KEY = "e2e-anthropic-key";
const CONTEXT = 512;
let stack: Stack | undefined;

async function up(): Promise<Stack> {
  stack ??= await startStack({
    models: {
      think: await ensureFixture(FIXTURES.think),
      bracket: await ensureFixture(FIXTURES.bracketThink),
    },
    apiKeys: [KEY],
    context: CONTEXT,
  });
  return stack;
}

function client(opts: Partial<ConstructorParameters<typeof Anthropic>[0]> = {}): Anthropic {
  return new Anthropic({ baseURL: stack!.url, apiKey: KEY, maxRetries: 0, ...opts });
}

/** Test steps share one stack; the last test stops it. */
function itest(name: string, fn: (s: Stack) => Promise<void>) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => fn(await up()),
  });
}

type CreateParams = Anthropic.MessageCreateParamsNonStreaming;

/**
 * Request params plus fields this SDK version does not type: `temperature` (the gateway
 * accepts it; newer Claude models do not), `role: "system"` turns, unknown fields.
 */
function params(p: Omit<CreateParams, "max_tokens"> & { max_tokens?: number }, extra = {}) {
  return { max_tokens: 32, temperature: 0, ...p, ...extra } as CreateParams;
}

const hello = [{ role: "user" as const, content: "hello there" }];

/** The last chat body the gateway sent the neuron. */
const lastChat = (s: Stack) => s.chats.at(-1) as Record<string, unknown> & { messages: unknown[] };

/** The thinking tokens the gateway reports (typed only in beta usage). */
const thinkingTokens = (m: Anthropic.Message) =>
  (m.usage as { output_tokens_details?: { thinking_tokens: number } }).output_tokens_details
    ?.thinking_tokens;

/** A content block's own fields, without what the SDK adds while accumulating. */
function plain(b: Anthropic.ContentBlock): Record<string, unknown> {
  if (b.type === "thinking") return { type: b.type, thinking: b.thinking, signature: b.signature };
  if (b.type === "text") return { type: b.type, text: b.text };
  return { ...b };
}

// deno-lint-ignore no-explicit-any
type ErrorClass = new (...args: any[]) => InstanceType<typeof Anthropic.APIError>;

/** The API error a call rejects with (the test fails if it resolves). */
async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof Anthropic.APIError, `expected an APIError, got ${e}`);
    return e;
  }
  throw new Error("expected the call to fail");
}

for (const model of ["think", "bracket"] as ReasoningModel[]) {
  itest(`${model}: thinking enabled → a signed thinking block, then the text`, async (s) => {
    const { close } = await markerTokens(s, model);
    const msg = await client().messages.create(
      params({ model, messages: hello, thinking: { type: "enabled", budget_tokens: 1024 } }),
      withGrammar(thinkThenAnswer(close)),
    );
    assertEquals(lastChat(s).chat_template_kwargs, { enable_thinking: true });
    assertEquals(msg.content.map((b) => b.type), ["thinking", "text"]);
    const [thinking, text] = msg.content as [Anthropic.ThinkingBlock, Anthropic.TextBlock];
    assertMatch(thinking.thinking, /^[a-z]{4,8}$/);
    assert(thinking.signature.length > 0, "a thinking block carries a signature");
    assertMatch(text.text, /^ [a-z]{4,8}$/);
    assertEquals(msg.stop_reason, "end_turn");
    assertEquals(msg.stop_sequence, null);
    assertEquals(msg.model, model);
    assert((thinkingTokens(msg) ?? 0) >= 4, "thinking tokens are counted");
    assert(AnthropicMessageSchema.safeParse(msg).success);
  });

  itest(`${model}: thinking streamed as thinking_delta, then text_delta`, async (s) => {
    const { close } = await markerTokens(s, model);
    const stream = client().messages.stream(
      params({ model, messages: hello, thinking: { type: "enabled", budget_tokens: 1024 } }),
      withGrammar(thinkThenAnswer(close)),
    );
    const events: Anthropic.MessageStreamEvent[] = [];
    for await (const ev of stream) events.push(ev);
    const final = await stream.finalMessage();
    for (const ev of events) {
      assert(AnthropicStreamEventSchema.safeParse(ev).success, JSON.stringify(ev));
    }
    const starts = events.filter((e) => e.type === "content_block_start");
    assertEquals(starts.map((e) => [e.index, e.content_block.type]), [[0, "thinking"], [
      1,
      "text",
    ]]);
    let thinking = "";
    let text = "";
    let signature = "";
    for (const e of events) {
      if (e.type !== "content_block_delta") continue;
      if (e.delta.type === "thinking_delta") thinking += e.delta.thinking;
      if (e.delta.type === "text_delta") text += e.delta.text;
      if (e.delta.type === "signature_delta") signature += e.delta.signature;
    }
    assertMatch(thinking, /^[a-z]{4,8}$/);
    assertMatch(text, /^ [a-z]{4,8}$/);
    assert(signature.length > 0);
    assertEquals(events[0].type, "message_start");
    assertEquals(events.at(-1)?.type, "message_stop");
    // The accumulated message is what the events said, and a valid Message.
    assert(AnthropicMessageSchema.safeParse(final).success, JSON.stringify(final));
    assertEquals(final.content.map(plain), [
      { type: "thinking", thinking, signature },
      { type: "text", text },
    ]);
    assertEquals(final.stop_reason, "end_turn");
    assert(final.usage.output_tokens > 0);
  });

  itest(
    `${model}: thinking off → no reasoning reaches the client, even if generated`,
    async (s) => {
      const { open, close } = await markerTokens(s, model);
      // The model opens and closes a reasoning block on its own, mid-answer.
      const g = withGrammar(`root ::= "hi" <[${open}]> [a-z]{3,5} <[${close}]> " ok"`);
      for (const thinking of [undefined, { type: "disabled" as const }]) {
        const msg = await client().messages.create(params({ model, messages: hello, thinking }), g);
        assertEquals(lastChat(s).chat_template_kwargs, { enable_thinking: false });
        assertEquals(msg.content.map(plain), [{ type: "text", text: "hi ok" }]);
        const stream = client().messages.stream(params({ model, messages: hello, thinking }), g);
        const kinds = new Set<string>();
        for await (const ev of stream) {
          if (ev.type === "content_block_start") kinds.add(ev.content_block.type);
          if (ev.type === "content_block_delta") kinds.add(ev.delta.type);
        }
        assertEquals([...kinds].sort(), ["text", "text_delta"]);
        const final = await stream.finalMessage();
        assertEquals(final.content.map(plain), [{ type: "text", text: "hi ok" }]);
      }
    },
  );
}

itest(
  "thinking: adaptive turns it on; a stream cut by max_tokens keeps its thinking",
  async (s) => {
    const stream = client().messages.stream(
      params({ model: "think", messages: hello, max_tokens: 6, thinking: { type: "adaptive" } }),
    );
    const final = await stream.finalMessage();
    assertEquals(lastChat(s).chat_template_kwargs, { enable_thinking: true });
    // The template pre-opened the block and nothing closed it: all 6 tokens are reasoning.
    assertEquals(final.content.map((b) => b.type), ["thinking"]);
    assert((final.content[0] as Anthropic.ThinkingBlock).thinking.length > 0);
    assertEquals(final.stop_reason, "max_tokens");
    assertEquals(final.usage.output_tokens, 6);
    assertEquals(thinkingTokens(final), 6);
  },
);

itest("stop_sequences → stop_reason stop_sequence, the sequence named and cut", async () => {
  const g = withGrammar(`root ::= "alpha beta gamma"`);
  const p = params({ model: "think", messages: hello, stop_sequences: ["zeta", "beta"] });
  const msg = await client().messages.create(p, g);
  assertEquals(msg.stop_reason, "stop_sequence");
  assertEquals(msg.stop_sequence, "beta");
  assertEquals(msg.content.map(plain), [{ type: "text", text: "alpha " }]);
  const streamed = await client().messages.stream(p, g).finalMessage();
  assertEquals(streamed.stop_reason, "stop_sequence");
  assertEquals(streamed.stop_sequence, "beta");
  assertEquals(streamed.content.map(plain), [{ type: "text", text: "alpha " }]);
});

itest("max_tokens → stop_reason max_tokens after exactly that many tokens", async () => {
  const g = withGrammar(`root ::= [a-z]{40,60}`);
  const p = params({ model: "bracket", messages: hello, max_tokens: 5 });
  const msg = await client().messages.create(p, g);
  assertEquals(msg.stop_reason, "max_tokens");
  assertEquals(msg.stop_sequence, null);
  assertEquals(msg.usage.output_tokens, 5);
  assertMatch((msg.content[0] as Anthropic.TextBlock).text, /^[a-z]+$/);
  const streamed = await client().messages.stream(p, g).finalMessage();
  assertEquals(streamed.stop_reason, "max_tokens");
  assertEquals(streamed.usage.output_tokens, 5);
  assertEquals(streamed.content.map(plain), msg.content.map(plain));
});

itest("max_tokens beyond the model's limit is clamped to it, not refused", async (s) => {
  const g = withGrammar(`root ::= "ok"`);
  const msg = await client().messages.create(
    params({ model: "think", messages: hello, max_tokens: 20_000 }),
    g,
  );
  assertEquals(msg.content.map(plain), [{ type: "text", text: "ok" }]);
  assertEquals(msg.stop_reason, "end_turn");
  assertEquals(lastChat(s).max_tokens, CONTEXT);
  // Streaming (the SDK's way for long outputs) with a far larger limit.
  const streamed = await client().messages.stream(
    params({ model: "think", messages: hello, max_tokens: 1_000_000 }),
    g,
  ).finalMessage();
  assertEquals(streamed.content.map(plain), [{ type: "text", text: "ok" }]);
  assertEquals(lastChat(s).max_tokens, CONTEXT);
});

itest("count_tokens equals the neuron's count of the rendered prompt and usage", async (s) => {
  const c = client();
  const system = "You answer in one word.";
  const messages: Anthropic.MessageParam[] = [
    { role: "user", content: "What is the sea?" },
    { role: "assistant", content: "Water." },
    { role: "user", content: [{ type: "text", text: "And the sky?" }] },
  ];
  const counted = await c.messages.countTokens({ model: "think", system, messages });
  const neuron = await s.countTokens("think", [
    { role: "system", content: system },
    { role: "user", content: "What is the sea?" },
    { role: "assistant", content: "Water." },
    { role: "user", content: "And the sky?" },
  ], { enable_thinking: false });
  assertEquals(counted.input_tokens, neuron);
  const msg = await c.messages.create(
    params({ model: "think", system, messages, max_tokens: 2 }),
  );
  // Anthropic reports prompt tokens served from cache apart; the prompt is their sum.
  assertEquals(msg.usage.input_tokens + (msg.usage.cache_read_input_tokens ?? 0), neuron);
  // With thinking on the template renders the prompt differently, and the count follows.
  const thinking = { type: "enabled" as const, budget_tokens: 1024 };
  const withThinking = await c.messages.countTokens({ model: "think", system, messages, thinking });
  const neuronThinking = await s.countTokens("think", [
    { role: "system", content: system },
    { role: "user", content: "What is the sea?" },
    { role: "assistant", content: "Water." },
    { role: "user", content: "And the sky?" },
  ], { enable_thinking: true });
  assertEquals(withThinking.input_tokens, neuronThinking);
  assert(neuronThinking !== neuron, "the thinking switch changes the rendered prompt");
});

itest(
  "system as a string, as blocks, and role: system turns: one leading system message",
  async (s) => {
    const c = client();
    const asString = await c.messages.create(
      params({ model: "think", messages: hello, system: "Be brief.\n\nBe kind.", max_tokens: 1 }),
    );
    assertEquals(lastChat(s).messages[0], { role: "system", content: "Be brief.\n\nBe kind." });
    const asBlocks = await c.messages.create(params({
      model: "think",
      messages: hello,
      max_tokens: 1,
      system: [
        { type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } },
        { type: "text", text: "Be kind." },
      ],
    }));
    assertEquals(lastChat(s).messages[0], { role: "system", content: "Be brief.\n\nBe kind." });
    const total = (m: Anthropic.Message) =>
      m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0);
    assertEquals(total(asBlocks), total(asString));
    await c.messages.create(params({
      model: "think",
      max_tokens: 1,
      system: "Be brief.",
      messages: [
        { role: "user", content: "hello there" },
        { role: "system", content: "Be kind." },
        { role: "assistant", content: "Hi." },
        { role: "user", content: "again" },
      ] as Anthropic.MessageParam[],
    }));
    assertEquals(lastChat(s).messages, [
      { role: "system", content: "Be brief.\n\nBe kind." },
      { role: "user", content: "hello there" },
      { role: "assistant", content: "Hi." },
      { role: "user", content: "again" },
    ]);
  },
);

itest(
  "beta client: ?beta=true, unknown betas, unknown fields and cache_control accepted",
  async () => {
    const sent: { url: string; beta: string | null }[] = [];
    const c = client({
      fetch: (url: string | URL | Request, init?: RequestInit) => {
        sent.push({ url: String(url), beta: new Headers(init?.headers).get("anthropic-beta") });
        return fetch(url, init);
      },
    });
    // Claude Code and older SDKs put `?beta=true` on beta calls; this SDK version only sends
    // the `anthropic-beta` header, so the query is added as those clients add it.
    const beta = { query: { beta: "true" } };
    const msg = await c.beta.messages.create({
      model: "think",
      max_tokens: 3,
      betas: ["some-future-feature-2099-01-01", "interleaved-thinking-2025-05-14"],
      messages: [{
        role: "user",
        content: [{ type: "text", text: "hello there", cache_control: { type: "ephemeral" } }],
      }],
      // Fields cortex does not know are ignored, as the public API ignores unknown ones.
      ...{ temperature: 0, future_knob: { level: 3 }, service_tier: "auto", container: null },
    } as Anthropic.Beta.MessageCreateParamsNonStreaming, beta);
    assertMatch(sent[0].url, /\/v1\/messages\?beta=true$/);
    assertEquals(sent[0].beta, "some-future-feature-2099-01-01,interleaved-thinking-2025-05-14");
    assertEquals(msg.type, "message");
    assertEquals(msg.stop_reason, "max_tokens");
    assertEquals(msg.usage.output_tokens, 3);
    const streamed = await c.beta.messages.stream({
      model: "think",
      max_tokens: 3,
      betas: ["fine-grained-tool-streaming-2025-05-14"],
      messages: [{ role: "user", content: "hello there" }],
    }, beta).finalMessage();
    assertMatch(sent.at(-1)!.url, /\/v1\/messages\?beta=true$/);
    assertEquals(streamed.usage.output_tokens, 3);
    const counted = await c.beta.messages.countTokens({
      model: "think",
      betas: ["token-counting-2024-11-01"],
      messages: [{ role: "user", content: "hello there" }],
    }, beta);
    assertMatch(sent.at(-1)!.url, /\/v1\/messages\/count_tokens\?beta=true$/);
    const plainCount = await client().messages.countTokens({ model: "think", messages: hello });
    assertEquals(counted.input_tokens, plainCount.input_tokens);
  },
);

itest("auth: x-api-key and Authorization: Bearer both work; a bad key is a 401", async () => {
  const byHeader = await client().messages.countTokens({ model: "think", messages: hello });
  const byBearer = await client({ apiKey: null, authToken: KEY }).messages.countTokens({
    model: "think",
    messages: hello,
  });
  assertEquals(byBearer.input_tokens, byHeader.input_tokens);
  for (const bad of [client({ apiKey: "wrong" }), client({ apiKey: null, authToken: "wrong" })]) {
    const e = await apiError(bad.messages.create(params({ model: "think", messages: hello })));
    assert(e instanceof Anthropic.AuthenticationError, `got ${e.constructor.name}`);
    assertEquals(e.status, 401);
    assertEquals(e.type, "authentication_error");
  }
});

itest("bad requests: each with its Anthropic error class, type and status", async () => {
  const c = client();
  const cases: [string, Record<string, unknown>, ErrorClass, number, RegExp][] = [
    [
      "missing max_tokens",
      { model: "think", messages: hello },
      Anthropic.BadRequestError,
      400,
      /max_tokens/,
    ],
    [
      "empty messages",
      { model: "think", max_tokens: 5, messages: [] },
      Anthropic.BadRequestError,
      400,
      /messages/,
    ],
    [
      "a role that does not exist",
      { model: "think", max_tokens: 5, messages: [{ role: "bot", content: "x" }] },
      Anthropic.BadRequestError,
      400,
      /messages\.0\.role/,
    ],
    [
      "unknown model",
      { model: "no-such-model", max_tokens: 5, messages: hello },
      Anthropic.NotFoundError,
      404,
      /no-such-model/,
    ],
  ];
  for (const [what, body, cls, status, mentions] of cases) {
    const e = await apiError(c.messages.create(body as unknown as CreateParams));
    assert(e instanceof cls, `${what}: got ${e.constructor.name}`);
    assertEquals(e.status, status, what);
    assertEquals(e.type, status === 404 ? "not_found_error" : "invalid_request_error", what);
    assertMatch(e.message, mentions, what);
  }
});

Deno.test({
  name: "stack stops cleanly",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await stack?.stop();
    stack = undefined;
  },
});

Deno.test({
  name: "a neuron killed mid-stream ends the SDK stream with an error, not a hang",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // Its own neuron, without the shim: the gateway reads the dying neuron directly.
    const s = await startStack({
      models: { think: await ensureFixture(FIXTURES.think) },
      shim: false,
      context: 2048,
    });
    try {
      const c = new Anthropic({ baseURL: s.url, apiKey: "none", maxRetries: 0 });
      const stream = c.messages.stream(
        params({ model: "think", messages: hello, max_tokens: 2000 }),
      );
      let deltas = 0;
      let killed: Promise<void> | undefined;
      const outcome = (async () => {
        for await (const ev of stream) {
          if (ev.type === "content_block_delta" && ++deltas === 2) killed = s.neuron.kill();
        }
        // The SDK's iterator ends quietly on an error no `next()` was waiting for; the
        // accumulated message is where the stream's error surfaces.
        await stream.finalMessage();
        return "completed";
      })().catch((e) => e);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise((r) => timer = setTimeout(() => r("a 15 s timeout"), 15_000));
      const result = await Promise.race([outcome, timeout]);
      clearTimeout(timer);
      const why = `the stream ended with ${result} after ${deltas} deltas; gateway log:\n` +
        s.gateway.log().slice(-3000);
      assert(killed, `no deltas came before the kill: ${why}`);
      await killed;
      assert(result instanceof Anthropic.APIError, why);
      assertEquals(result.type, "api_error");
      assert(deltas < 2000, "the stream did not run to completion");
    } finally {
      await s.gateway.stop();
      await s.neuron.kill();
    }
  },
});
