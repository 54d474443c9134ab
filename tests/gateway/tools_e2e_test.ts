/**
 * Tool calling end to end through the gateway (`cli/cortex.ts serve` in embedded mode: no
 * `[[neurons]]`, the neuron runs inside it) with the official clients: `openai` (tools,
 * forced and streamed tool calls, Hermes and Llama 3.1 fixtures) and `@anthropic-ai/sdk`
 * (`tool_use` blocks, `input_json_delta` events, `stop_reason: "tool_use"`, a follow-up turn
 * with `tool_result` blocks that the model answers).
 *
 * The fixtures have random weights: calls are forced (`tool_choice` "required" / a named
 * function, `{type: "any"}` / `{type: "tool"}`), which the neuron enforces with a grammar,
 * so every call must carry arguments its tool's schema accepts (ajv).
 */

import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { makeValidator } from "../../core/grammar/testing/validator.ts";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import { freePort, makeStore, spawnServer, writeConfig } from "../helpers/processes.ts";
import { SharedServer } from "../helpers/shared_server.ts";

type ToolName = "get_weather" | "add";
const SCHEMAS: Record<ToolName, Record<string, unknown>> = {
  get_weather: {
    type: "object",
    properties: {
      city: { type: "string", enum: ["Paris", "London", "Tokyo"] },
      unit: { type: "string", enum: ["celsius", "fahrenheit"] },
    },
    required: ["city"],
    additionalProperties: false,
  },
  add: {
    type: "object",
    properties: { a: { type: "integer", minimum: 0, maximum: 999 }, b: { type: "number" } },
    required: ["a", "b"],
    additionalProperties: false,
  },
};
const NAMES = Object.keys(SCHEMAS) as ToolName[];
const VALIDATE = Object.fromEntries(NAMES.map((n) => [n, makeValidator(SCHEMAS[n])])) as Record<
  ToolName,
  (doc: unknown) => boolean
>;

const OPENAI_TOOLS: OpenAI.ChatCompletionFunctionTool[] = NAMES.map((name) => ({
  type: "function",
  function: { name, description: `the ${name} tool`, parameters: { ...SCHEMAS[name] } },
}));
const ANTHROPIC_TOOLS: Anthropic.Tool[] = NAMES.map((name) => ({
  name,
  description: `the ${name} tool`,
  input_schema: { ...SCHEMAS[name], type: "object" },
}));

function assertValidCall(name: string, input: unknown, allowed: readonly string[] = NAMES) {
  assert(allowed.includes(name), `called ${name}, allowed ${allowed}`);
  assert(VALIDATE[name as ToolName](input), `${name} input ${JSON.stringify(input)}`);
}

const gateway = new SharedServer(async () => {
  const store = await makeStore({
    plain: await ensureFixture(FIXTURES.plain),
    llama3: await ensureFixture(FIXTURES.llama3),
  });
  const neuron = await writeConfig(
    "neuron.toml",
    `model_dirs = ["${store}"]
slots = 2
context = 2048
n_threads = 1
n_batch = 256
memory_budget_mb = { CPU = 400 }
`,
  );
  const cortex = await writeConfig(
    "cortex.toml",
    `[gateway]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:${freePort()}"
poll_interval = "300ms"

[embedded]
neuron_config = "${neuron}"
`,
  );
  return await spawnServer("cli/cortex.ts", cortex);
}, async (gw) => {
  for (const model of ["plain", "llama3"]) {
    const res = await fetch(`${gw.url}/cortex/load`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model }),
    });
    assertEquals(res.status, 200, await res.text());
  }
});

const itest = (name: string, fn: () => Promise<void>) => gateway.test(name, fn);

const openai = () => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 });
const anthropic = () => new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0 });

// --- OpenAI ----------------------------------------------------------------------------

const question = [{ role: "user" as const, content: "What is the weather in Paris?" }];

for (const model of ["plain", "llama3"]) {
  itest(`openai (${model}): tool_choice "required" → tool_calls the schemas accept`, async () => {
    for (const seed of [1, 2]) {
      const r = await openai().chat.completions.create({
        model,
        messages: question,
        tools: OPENAI_TOOLS,
        tool_choice: "required",
        // One call: the grammar lets a parallel answer add calls without end, and whether a
        // random-weight model stops before max_tokens would then depend on its numerics.
        parallel_tool_calls: false,
        temperature: 1,
        seed,
        max_tokens: 1500,
      });
      const choice = r.choices[0];
      assertEquals(choice.finish_reason, "tool_calls");
      const calls = choice.message.tool_calls ?? [];
      assertEquals(calls.length, 1);
      for (const c of calls) {
        assertEquals(c.type, "function");
        assertMatch(c.id, /^call_/);
        const f = (c as OpenAI.ChatCompletionMessageFunctionToolCall).function;
        assertValidCall(f.name, JSON.parse(f.arguments));
      }
    }
  });

  itest(`openai (${model}): streamed calls of a named function, deltas in order`, async () => {
    const stream = await openai().chat.completions.create({
      model,
      messages: question,
      tools: OPENAI_TOOLS,
      tool_choice: { type: "function", function: { name: "add" } },
      parallel_tool_calls: false,
      temperature: 1,
      seed: 3,
      max_tokens: 1500,
      stream: true,
    });
    const calls: { id: string; name: string; args: string; pieces: number }[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      finish = choice.finish_reason ?? finish;
      for (const d of choice.delta.tool_calls ?? []) {
        if (d.index === calls.length) {
          // The first delta of a call names it.
          assertMatch(d.id ?? "", /^call_/);
          assertEquals(d.type, "function");
          calls.push({
            id: d.id!,
            name: d.function!.name!,
            args: d.function?.arguments ?? "",
            pieces: 0,
          });
        } else {
          assertEquals(d.index, calls.length - 1);
          assertEquals(d.function?.name, undefined);
          calls[d.index].args += d.function?.arguments ?? "";
          calls[d.index].pieces++;
        }
      }
    }
    assertEquals(finish, "tool_calls");
    assertEquals(calls.length, 1, "parallel_tool_calls: false");
    assertEquals(calls[0].name, "add");
    assert(calls[0].pieces >= 2, "arguments arrive in pieces");
    assertValidCall("add", JSON.parse(calls[0].args), ["add"]);
  });
}

// --- Anthropic -------------------------------------------------------------------------

function toolUses(m: Anthropic.Message): Anthropic.ToolUseBlock[] {
  return m.content.filter((b): b is Anthropic.ToolUseBlock => b.type === "tool_use");
}

itest("anthropic: tool_choice any → tool_use blocks, stop_reason tool_use", async () => {
  for (const seed of [1, 2]) {
    const m = await anthropic().messages.create({
      model: "plain",
      max_tokens: 1500,
      messages: question,
      tools: ANTHROPIC_TOOLS,
      // One call: the grammar lets a parallel answer add calls without end, and whether a
      // random-weight model stops before max_tokens would then depend on its numerics.
      tool_choice: { type: "any", disable_parallel_tool_use: true },
      ...{ temperature: 1, seed },
    });
    assertEquals(m.stop_reason, "tool_use");
    const uses = toolUses(m);
    assertEquals(uses.length, 1, "disable_parallel_tool_use: one call");
    for (const u of uses) {
      assertMatch(u.id, /^[A-Za-z0-9_-]+$/);
      assertValidCall(u.name, u.input);
    }
    // No stray text around forced calls.
    assertEquals(m.content.filter((b) => b.type === "text" && b.text.trim()).length, 0);
  }
});

itest("anthropic: streamed tool_use with input_json_delta pieces", async () => {
  const stream = anthropic().messages.stream({
    model: "plain",
    max_tokens: 1500,
    messages: question,
    tools: ANTHROPIC_TOOLS,
    tool_choice: { type: "tool", name: "get_weather", disable_parallel_tool_use: true },
    ...{ temperature: 1, seed: 5 },
  });
  const partial = new Map<number, string>();
  const started: number[] = [];
  let pieces = 0;
  let stopReason: string | null | undefined;
  for await (const ev of stream) {
    if (ev.type === "content_block_start" && ev.content_block.type === "tool_use") {
      assertEquals(ev.content_block.name, "get_weather");
      assertEquals(ev.content_block.input, {});
      started.push(ev.index);
      partial.set(ev.index, "");
    } else if (ev.type === "content_block_delta" && ev.delta.type === "input_json_delta") {
      assert(partial.has(ev.index), "deltas follow their block's start");
      partial.set(ev.index, partial.get(ev.index)! + ev.delta.partial_json);
      pieces++;
    } else if (ev.type === "message_delta") {
      stopReason = ev.delta.stop_reason;
    }
  }
  const final = await stream.finalMessage();
  assertEquals(stopReason, "tool_use");
  assertEquals(final.stop_reason, "tool_use");
  assertEquals(started.length, 1, "disable_parallel_tool_use: one call");
  assert(pieces >= 2, "the input streams in pieces");
  const uses = toolUses(final);
  assertEquals(uses.length, 1);
  // What the events carried is what the final message holds.
  assertEquals(uses[0].input, JSON.parse(partial.get(started[0])!));
  assertValidCall("get_weather", uses[0].input, ["get_weather"]);
});

itest("anthropic: a tool_result turn is rendered into the prompt and answered", async () => {
  const first = await anthropic().messages.create({
    model: "plain",
    max_tokens: 1500,
    messages: question,
    tools: ANTHROPIC_TOOLS,
    tool_choice: { type: "tool", name: "get_weather", disable_parallel_tool_use: true },
    ...{ temperature: 1, seed: 7 },
  });
  assertEquals(first.stop_reason, "tool_use");
  const uses = toolUses(first);
  const followUp = (result: string): Anthropic.MessageParam[] => [
    ...question,
    { role: "assistant", content: first.content },
    {
      role: "user",
      content: uses.map((u) => ({
        type: "tool_result" as const,
        tool_use_id: u.id,
        content: result,
      })),
    },
  ];
  // The results are in the prompt: a longer result costs more input tokens.
  const count = (result: string) =>
    anthropic().messages.countTokens({
      model: "plain",
      messages: followUp(result),
      tools: ANTHROPIC_TOOLS,
    }).then((c) => c.input_tokens);
  const short = await count("sunny");
  const long = await count("sunny and warm, with a light breeze from the west");
  assert(long > short + uses.length * 5, `${short} → ${long}`);

  const answer = await anthropic().messages.create({
    model: "plain",
    max_tokens: 16,
    messages: followUp("sunny"),
    tools: ANTHROPIC_TOOLS,
    ...{ temperature: 0 },
  });
  // Anthropic counts the prompt prefix served from cache apart.
  const u = answer.usage;
  assertEquals(u.input_tokens + (u.cache_read_input_tokens ?? 0), short);
  assert(["end_turn", "max_tokens"].includes(answer.stop_reason!), answer.stop_reason!);
  assertEquals(toolUses(answer).length, 0);
  assertEquals(answer.content[0].type, "text");
  assert((answer.content[0] as Anthropic.TextBlock).text.length > 0);
});

gateway.stopAtEnd("stop the gateway");
