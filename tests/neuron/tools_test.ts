/**
 * Tool calling on a real neuron, for the two tool formats the fixtures carry: Hermes
 * (`<tool_call>` in a ChatML template: `plain`, `think`) and Llama 3.1 (bare JSON with
 * `"parameters"`: `llama3`).
 *
 * - Prompts: the model's own template renders the tool definitions, earlier assistant
 *   `tool_calls` and `role: "tool"` results (checked on the text, rendered directly, and on
 *   the neuron's `/tokenize`, which must render the same thing).
 * - Forced calls (`tool_choice` "required" or a named function) are grammar-constrained, so
 *   even random weights produce them: they must come back as OpenAI `tool_calls` with
 *   `finish_reason: "tool_calls"`, streamed and not, arguments valid under each tool's schema
 *   (ajv), one call at most with `parallel_tool_calls: false`.
 * - With thinking on, the forcing grammar shapes the answer, not the reasoning before it.
 */

import OpenAI from "openai";
import { makeValidator } from "../../core/grammar/testing/validator.ts";
import { ChatCompletionChunkSchema } from "../../core/openai/mod.ts";
import { toTemplateMessage } from "../../neuron/api/chat.ts";
import { ChatTemplate } from "../../neuron/chat/template.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../assert.ts";
import { fixtureChatTemplate, FIXTURES, fixtureTokens, LLAMA3_TOKENS } from "../fixtures/mod.ts";
import { loadedNeuron } from "../helpers/shared_server.ts";

type Tool = OpenAI.ChatCompletionTool & { type: "function" };
type Message = OpenAI.ChatCompletionMessageParam;

const TOOLS: Tool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather in a city",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string", enum: ["Paris", "London", "Tokyo"] },
          unit: { type: "string", enum: ["celsius", "fahrenheit"] },
          days: { type: "integer", minimum: 1, maximum: 7 },
        },
        required: ["city"],
        additionalProperties: false,
      },
    },
  },
  {
    type: "function",
    function: {
      name: "add",
      description: "Adds two numbers",
      parameters: {
        type: "object",
        properties: { a: { type: "number" }, b: { type: "number" } },
        required: ["a", "b"],
        additionalProperties: false,
      },
    },
  },
  {
    type: "function",
    function: {
      name: "write_note",
      description: "Saves a short note",
      parameters: {
        type: "object",
        properties: {
          title: { type: "string", minLength: 1, maxLength: 24 },
          tags: { type: "array", items: { type: "string", maxLength: 10 }, maxItems: 3 },
        },
        required: ["title"],
        additionalProperties: false,
      },
    },
  },
];
const VALIDATORS = new Map(
  TOOLS.map((t) => [t.function.name, makeValidator(t.function.parameters)]),
);

/** The same history in OpenAI terms: a question, two parallel calls, their results. */
const HISTORY: Message[] = [
  { role: "system", content: "Answer briefly." },
  { role: "user", content: "What is the weather in Paris and in Tokyo?" },
  {
    role: "assistant",
    content: null,
    tool_calls: [
      {
        id: "call_1",
        type: "function",
        function: { name: "get_weather", arguments: '{"city":"Paris","unit":"celsius"}' },
      },
      {
        id: "call_2",
        type: "function",
        function: { name: "get_weather", arguments: '{"city":"Tokyo"}' },
      },
    ],
  },
  { role: "tool", tool_call_id: "call_1", content: "sunny, 21 degrees" },
  { role: "tool", tool_call_id: "call_2", content: "rain, 14 degrees" },
];

function render(fixture: typeof FIXTURES.plain | typeof FIXTURES.llama3, messages: Message[]) {
  const t = fixtureTokens(fixture);
  const template = new ChatTemplate(fixtureChatTemplate(fixture), { bos: t.bos, eos: t.eos });
  return template.render({
    // deno-lint-ignore no-explicit-any
    messages: messages.map((m) => toTemplateMessage(m as any)),
    tools: TOOLS,
    addGenerationPrompt: true,
  });
}

/** Every JSON object written on its own line between `open` and `close`. */
function jsonLinesBetween(text: string, open: string, close: string): unknown[] {
  const out: unknown[] = [];
  for (const m of text.matchAll(new RegExp(`${open}\\n([\\s\\S]*?)\\n${close}`, "g"))) {
    for (const line of m[1].split("\n")) out.push(JSON.parse(line));
  }
  return out;
}

Deno.test("hermes prompt: tool definitions, earlier calls and their results, in the template's format", () => {
  const text = render(FIXTURES.plain, HISTORY);
  // Definitions: one JSON object per line inside <tools>, exactly the request's tools.
  assertEquals(jsonLinesBetween(text, "<tools>", "</tools>"), TOOLS);
  // The assistant turn carries both calls, arguments as objects, in order.
  const turn = text.slice(text.indexOf("<|im_start|>assistant\n"));
  assertEquals(jsonLinesBetween(turn, "<tool_call>", "</tool_call>"), [
    { name: "get_weather", arguments: { city: "Paris", unit: "celsius" } },
    { name: "get_weather", arguments: { city: "Tokyo" } },
  ]);
  // Consecutive tool results share one user turn, in order, then the model's turn opens.
  assertStringIncludes(
    text,
    "<|im_start|>user\n<tool_response>\nsunny, 21 degrees\n</tool_response>\n" +
      "<tool_response>\nrain, 14 degrees\n</tool_response><|im_end|>\n<|im_start|>assistant\n",
  );
  assert(text.endsWith("<|im_start|>assistant\n"));
  assert(text.startsWith("<|im_start|>system\nAnswer briefly.\n\n# Tools"));
});

Deno.test("llama 3.1 prompt: tool definitions, earlier calls and their results, in the template's format", () => {
  const text = render(FIXTURES.llama3, HISTORY);
  const { startHeader: SH, endHeader: EH, eot: EOT } = LLAMA3_TOKENS;
  // Definitions go in the first user turn, each as indented JSON, before the question.
  const firstUser = text.slice(
    text.indexOf(`${SH}user${EH}`),
    text.indexOf(EOT, text.indexOf(`${SH}user${EH}`)),
  );
  for (const tool of TOOLS) assertStringIncludes(firstUser, JSON.stringify(tool, null, 4));
  assert(firstUser.endsWith("What is the weather in Paris and in Tokyo?"));
  assertStringIncludes(text, `${SH}system${EH}\n\nEnvironment: ipython\n`);
  // The calls: one `{"name", "parameters"}` object per line in the assistant turn.
  const assistant = `${SH}assistant${EH}\n\n`;
  const calls = text.slice(
    text.indexOf(assistant) + assistant.length,
    text.indexOf(`${EOT}${SH}ipython`),
  );
  assertEquals(calls.split("\n").map((l) => JSON.parse(l)), [
    { name: "get_weather", parameters: { city: "Paris", unit: "celsius" } },
    { name: "get_weather", parameters: { city: "Tokyo" } },
  ]);
  // Each result is its own ipython turn, then the model's turn opens.
  assert(
    text.endsWith(
      `${SH}ipython${EH}\n\nsunny, 21 degrees${EOT}${SH}ipython${EH}\n\nrain, 14 degrees${EOT}` +
        assistant,
    ),
  );
});

// --- a neuron process --------------------------------------------------------------------

const neuron = loadedNeuron(["plain", "llama3", "think"]);

const post = (path: string, body: unknown) => neuron.post(path, body);
const client = () => new OpenAI({ baseURL: `${neuron.url}/v1`, apiKey: "none", maxRetries: 0 });
const itest = (name: string, fn: () => Promise<void>) => neuron.test(name, fn);

/** Adds fields the SDK's types do not know (llama.cpp-style extensions). */
// deno-lint-ignore no-explicit-any
const ext = <T>(params: T, extra: Record<string, unknown>): T => ({ ...params, ...extra }) as any;

interface Call {
  id: string;
  name: string;
  arguments: string;
}

/** Checks each call: a fresh `call_` id, a requested tool, JSON arguments its schema accepts. */
function assertValidCalls(calls: Call[], allowed: string[]) {
  assert(calls.length >= 1, "at least one call");
  assertEquals(new Set(calls.map((c) => c.id)).size, calls.length, "ids are unique");
  for (const c of calls) {
    assertMatch(c.id, /^call_[A-Za-z0-9]+$/);
    assert(allowed.includes(c.name), `called ${c.name}, allowed ${allowed}`);
    const args = JSON.parse(c.arguments);
    assert(VALIDATORS.get(c.name)!(args), `${c.name} arguments ${c.arguments} fit the schema`);
  }
}

const ask = (model: string, seed: number, extra: Partial<OpenAI.ChatCompletionCreateParams>) => ({
  model,
  messages: [{ role: "user" as const, content: "What is the weather in Paris?" }],
  tools: TOOLS,
  temperature: 1,
  seed,
  max_tokens: 2000,
  ...extra,
});

async function whole(
  model: string,
  seed: number,
  extra: Partial<OpenAI.ChatCompletionCreateParams>,
) {
  const r = await client().chat.completions.create(
    ask(model, seed, extra) as OpenAI.ChatCompletionCreateParamsNonStreaming,
  );
  const choice = r.choices[0];
  const calls = (choice.message.tool_calls ?? []).map((c) => {
    assertEquals(c.type, "function");
    const f = (c as OpenAI.ChatCompletionMessageFunctionToolCall).function;
    return { id: c.id, name: f.name, arguments: f.arguments };
  });
  return { r, choice, calls };
}

/**
 * A streamed request, checking the OpenAI delta protocol: a call's first delta carries
 * index, id, type and name; later ones only argument text.
 */
async function streamed(
  model: string,
  seed: number,
  extra: Partial<OpenAI.ChatCompletionCreateParams>,
) {
  const stream = await client().chat.completions.create({
    ...ask(model, seed, extra),
    stream: true,
  } as OpenAI.ChatCompletionCreateParamsStreaming);
  const calls: Call[] = [];
  const pieces: number[] = [];
  let content = "";
  let reasoning = "";
  let finish: string | null = null;
  let reasoningAfterCalls = false;
  for await (const chunk of stream) {
    ChatCompletionChunkSchema.parse(chunk);
    const choice = chunk.choices[0];
    if (!choice) continue;
    finish = choice.finish_reason ?? finish;
    const delta = choice.delta as typeof choice.delta & { reasoning_content?: string };
    content += delta.content ?? "";
    if (delta.reasoning_content) {
      reasoning += delta.reasoning_content;
      reasoningAfterCalls ||= calls.length > 0;
    }
    for (const d of delta.tool_calls ?? []) {
      if (d.index === calls.length) {
        assertMatch(d.id ?? "", /^call_/, "a call's first delta carries its id");
        assertEquals(d.type, "function");
        assert(d.function?.name, "a call's first delta carries the function name");
        calls.push({ id: d.id!, name: d.function.name, arguments: d.function.arguments ?? "" });
        pieces.push(0);
      } else {
        assertEquals(d.index, calls.length - 1, "deltas belong to the newest call");
        assertEquals(d.id, undefined);
        assertEquals(d.type, undefined);
        assertEquals(d.function?.name, undefined);
        calls[d.index].arguments += d.function?.arguments ?? "";
        pieces[d.index]++;
      }
    }
  }
  return { calls, pieces, content, reasoning, finish, reasoningAfterCalls };
}

const named = (name: string) => ({ type: "function" as const, function: { name } });
const ALL = TOOLS.map((t) => t.function.name);

for (const model of ["plain", "llama3"]) {
  itest(
    `${model}: tool_choice "required" returns valid tool_calls, finish_reason tool_calls`,
    async () => {
      for (const seed of [1, 2, 3]) {
        const { choice, calls } = await whole(model, seed, { tool_choice: "required" });
        assertEquals(choice.finish_reason, "tool_calls", `seed ${seed}`);
        assertValidCalls(calls, ALL);
        // The call text is not repeated as content.
        assertEquals(choice.message.content ?? "", "");
      }
    },
  );

  itest(
    `${model}: streamed forced calls: id, type and name first, then argument pieces`,
    async () => {
      for (const seed of [1, 2]) {
        const s = await streamed(model, seed, { tool_choice: "required" });
        assertEquals(s.finish, "tool_calls");
        assertEquals(s.content, "");
        assertValidCalls(s.calls, ALL);
        // Arguments stream in several pieces, not as one blob at the end.
        assert(s.pieces.every((n) => n >= 2), `argument deltas per call: ${s.pieces}`);
        // Same seed, same sampling: the stream carries exactly the non-streamed calls.
        const w = await whole(model, seed, { tool_choice: "required" });
        assertEquals(
          s.calls.map((c) => [c.name, c.arguments]),
          w.calls.map((c) => [c.name, c.arguments]),
        );
      }
    },
  );

  itest(`${model}: a named function is the only one called`, async () => {
    for (const name of ["add", "write_note"]) {
      for (const seed of [1, 2]) {
        const { choice, calls } = await whole(model, seed, { tool_choice: named(name) });
        assertEquals(choice.finish_reason, "tool_calls");
        assertValidCalls(calls, [name]);
      }
      const s = await streamed(model, 3, { tool_choice: named(name) });
      assertEquals(s.finish, "tool_calls");
      assertValidCalls(s.calls, [name]);
    }
  });

  itest(
    `${model}: parallel_tool_calls false makes exactly one call; true allows several`,
    async () => {
      // A bias towards what starts a second call (`<tool_call>`, or llama3's `;` separator)
      // makes several calls likely where they are allowed; without parallel calls the
      // grammar must still end the answer after the first.
      const next = model === "llama3" ? ";" : "<tool_call>";
      const tok = await post("/tokenize", { model, prompt: next, return_tokens: true });
      const bias = { logit_bias: { [tok.json.tokens.at(-1)]: 4 } };
      let most = 0;
      for (const seed of [1, 2, 3]) {
        const single = await whole(model, seed, {
          tool_choice: "required",
          parallel_tool_calls: false,
          ...bias,
        });
        assertEquals(single.choice.finish_reason, "tool_calls");
        assertEquals(single.calls.length, 1, `seed ${seed}`);
        assertValidCalls(single.calls, ALL);
        const many = await whole(model, seed, { tool_choice: "required", ...bias });
        assertValidCalls(many.calls, ALL);
        most = Math.max(most, many.calls.length);
      }
      assert(most >= 2, `some answer makes several calls when allowed (most: ${most})`);
    },
  );

  itest(
    `${model}: a follow-up turn with tool results renders as the template says and is answered`,
    async () => {
      const messages: Message[] = [...HISTORY];
      // The neuron renders what the template renders: same token count as the text itself.
      const count = await post("/tokenize", { model, messages, tools: TOOLS });
      const text = render(model === "llama3" ? FIXTURES.llama3 : FIXTURES.plain, messages);
      const direct = await post("/tokenize", { model, prompt: text });
      assertEquals(count.json.count, direct.json.count);
      const without = await post("/tokenize", { model, messages });
      assert(count.json.count > without.json.count + 50, "the tool definitions are in the prompt");

      const r = await client().chat.completions.create(ext({
        model,
        messages,
        tools: TOOLS,
        max_tokens: 40,
        temperature: 0,
      }, { grammar: 'root ::= "It is sunny in Paris."' }));
      assertEquals(r.usage?.prompt_tokens, count.json.count);
      assertEquals(r.choices[0].message.content, "It is sunny in Paris.");
      assertEquals(r.choices[0].finish_reason, "stop");
      assertEquals(r.choices[0].message.tool_calls, undefined);
    },
  );
}

itest('tool_choice "auto": text stays free, and every call the model starts is valid', async () => {
  // A strong bias towards `<tool_call>` makes the random model start calls; without the
  // lazy grammar what follows the marker would be gibberish, never a valid call.
  const tok = await post("/tokenize", {
    model: "plain",
    prompt: "<tool_call>",
    return_tokens: true,
  });
  const marker = tok.json.tokens.at(-1);
  let called = 0;
  for (const seed of [1, 2, 3, 4]) {
    const { choice, calls } = await whole("plain", seed, {
      logit_bias: { [marker]: 12 },
      parallel_tool_calls: false,
    });
    if (!calls.length) continue;
    called++;
    assertEquals(choice.finish_reason, "tool_calls", `seed ${seed}`);
    assertEquals(calls.length, 1, "parallel_tool_calls false: one call");
    assertValidCalls(calls, ALL);
  }
  assert(called >= 2, `the bias made the model call tools (${called} of 4)`);
  // Without the bias the same requests answer in free text: the grammar waits for the marker.
  const plainText = await whole("plain", 5, { max_tokens: 30, logit_bias: { [marker]: -100 } });
  assertEquals(plainText.calls.length, 0);
  assert((plainText.choice.message.content ?? "").length > 0, "free text came back");
});

itest("thinking on: the forcing grammar starts after the reasoning, which runs free", async () => {
  // `think` pre-opens <think> when thinking is on. A bias on the close marker keeps the
  // random model's reasoning short; the answer that follows must still be a valid call.
  const tok = await post("/tokenize", { model: "think", prompt: "</think>", return_tokens: true });
  const close = tok.json.tokens.at(-1) as number;
  const thinking = { chat_template_kwargs: { enable_thinking: true }, logit_bias: { [close]: 3 } };
  let reasoned = 0;
  for (const seed of [1, 2, 3]) {
    const { r, choice, calls } = await whole(
      "think",
      seed,
      ext({ tool_choice: "required" }, thinking),
    );
    assertEquals(choice.finish_reason, "tool_calls");
    assertValidCalls(calls, ALL);
    assertEquals(choice.message.content ?? "", "");
    const reasoning = (choice.message as { reasoning_content?: string }).reasoning_content ?? "";
    // Reasoning under the tool-call grammar would have to begin with "<tool_call>".
    assert(!reasoning.trimStart().startsWith("<tool_call>"), reasoning);
    if (reasoning.trim()) reasoned++;
    assert(r.usage!.completion_tokens_details!.reasoning_tokens! >= 1);
  }
  assert(reasoned >= 2, "reasoning text came before the calls");

  const s = await streamed("think", 2, ext({ tool_choice: named("get_weather") }, thinking));
  assertEquals(s.finish, "tool_calls");
  assertValidCalls(s.calls, ["get_weather"]);
  assert(s.reasoning.trim().length > 0, "reasoning streamed");
  assert(!s.reasoningAfterCalls, "reasoning comes first");
});

itest("thinking off: a forced call on a reasoning model starts at once", async () => {
  for (const seed of [1, 2]) {
    const { r, choice, calls } = await whole("think", seed, { tool_choice: "required" });
    assertEquals(choice.finish_reason, "tool_calls");
    assertValidCalls(calls, ALL);
    assertEquals((choice.message as { reasoning_content?: string }).reasoning_content, undefined);
    assertEquals(r.usage!.completion_tokens_details!.reasoning_tokens, 0);
  }
});

neuron.stopAtEnd("stop the neuron");
