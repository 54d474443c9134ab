/**
 * README's first command with zero configuration (`cortex serve` in a directory whose
 * `./models` holds one GGUF trained for 131072 tokens) serves what coding agents send first:
 * a 40k-token `/v1/messages` stream with a `role: "system"` turn and tools (Claude Code), and
 * a 20k-token `/v1/responses` stream (Codex). Only the ports are set, so tests can run side by
 * side; context, slots and KV cache are what the neuron fits by itself.
 */

import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { assert, assertEquals } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Gateway {
  url: string;
  stop(): Promise<void>;
}

/** `deno task gateway`, run where ./models holds the fixture; resolves when it listens. */
async function zeroConfigGateway(): Promise<Gateway> {
  const dir = await Deno.makeTempDir({ prefix: "cortex-agent-" });
  await Deno.mkdir(`${dir}/models`);
  await Deno.copyFile(await ensureFixture(FIXTURES.agent), `${dir}/models/agent.gguf`);
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", `${ROOT}deno.json`, `${ROOT}cli/cortex.ts`, "serve"],
    cwd: dir,
    env: { CORTEX_GATEWAY__LISTEN: "127.0.0.1:0", CORTEX_GATEWAY__METRICS_LISTEN: "127.0.0.1:0" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let url: string | undefined;
  while (!url) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`cortex serve exited before listening:\n${out}`);
    out += value;
    url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
  }
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  // The embedded neuron lists ./models once its first poll lands.
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${url}/v1/models`);
    const body = await r.json();
    if (body.data?.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      proc.kill("SIGTERM");
      await proc.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** About `words` × 3.9 tokens of the fixture's vocabulary. */
const text = (words: number, salt: string) =>
  Array.from({ length: words }, (_, i) => `w${salt}${i % 97}`).join(" ");

const TOOLS: Anthropic.Tool[] = ["Read", "Edit", "Bash"].map((name) => ({
  name,
  description: `${name}: ${text(40, name)}`,
  input_schema: {
    type: "object" as const,
    properties: { path: { type: "string" }, command: { type: "string" } },
    required: ["path"],
  },
}));

Deno.test({
  name: "zero config: 40k-token Claude Code stream and 20k-token Codex stream complete",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const gw = await zeroConfigGateway();
    try {
      // The limits in force are visible before any load: the trained length fits here.
      const models = await (await fetch(`${gw.url}/v1/models`)).json();
      const m = models.data.find((x: { id: string }) => x.id === "agent");
      assertEquals([m.context_length, m.max_input_tokens], [131072, 131071]);
      const anthropicList = await (await fetch(`${gw.url}/v1/models`, {
        headers: { "anthropic-version": "2023-06-01" },
      })).json();
      assertEquals(anthropicList.data[0].max_input_tokens, 131071);

      const claude = new Anthropic({ baseURL: gw.url, apiKey: "unused", maxRetries: 0 });
      const stream = claude.messages.stream({
        model: "agent",
        max_tokens: 8,
        temperature: 0,
        system: "You are Claude Code.",
        tools: TOOLS,
        messages: [
          // Claude Code puts reminders in a system turn inside messages.
          { role: "system", content: text(10200, "s") } as unknown as Anthropic.MessageParam,
          { role: "user", content: "Fix the failing test." },
        ],
      });
      const types: string[] = [];
      for await (const ev of stream) types.push(ev.type);
      const input = (await stream.finalMessage()).usage.input_tokens;
      assert(input >= 40000, `the prompt had ${input} tokens`);
      assertEquals(types[0], "message_start");
      assertEquals(types.at(-1), "message_stop");

      const codex = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "unused", maxRetries: 0 });
      // A forced call to a tool whose arguments are finite ends on its own, as Codex's turns
      // do: the random-weight fixture would otherwise write until max_output_tokens. One call,
      // as Codex asks (parallel_tool_calls false): with parallel calls allowed the grammar
      // lets an unseeded temperature-1 sample go on calling until the limit, which it did once
      // in a full run (response.incomplete).
      const events = await codex.responses.create({
        model: "agent",
        stream: true,
        max_output_tokens: 1500,
        temperature: 1,
        instructions: text(5100, "c"),
        input: [{ role: "user", content: "Refactor the parser." }],
        tools: [{
          type: "function",
          name: "shell",
          description: "Runs a command.",
          parameters: {
            type: "object",
            properties: { command: { type: "string", enum: ["ls", "make"] } },
            required: ["command"],
            additionalProperties: false,
          },
          strict: true,
        }],
        tool_choice: { type: "function", name: "shell" },
        parallel_tool_calls: false,
      });
      let last = "";
      let usage = 0;
      for await (const ev of events) {
        last = ev.type;
        if (ev.type === "response.completed") usage = ev.response.usage?.input_tokens ?? 0;
      }
      assertEquals(last, "response.completed");
      assert(usage >= 20000, `the prompt had ${usage} tokens`);
    } finally {
      await gw.stop();
    }
  },
});
