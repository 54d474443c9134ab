import { assertEquals } from "../../tests/assert.ts";
import { ChatOutput, type Piece } from "./chat_output.ts";

const markers = { open: "<think>", close: "</think>" };
const text = (pieces: Piece[]) => pieces.map((p) => p.content ?? "").join("");

Deno.test("reasoning goes to reasoning_content by default", () => {
  const o = new ChatOutput({ includeThinking: false, markers, tools: null });
  const out = [
    ...o.push([{ kind: "reasoning", text: "hmm" }, { kind: "content", text: "hi" }]),
    ...o.finish(),
  ];
  assertEquals(out, [{ reasoning: "hmm" }, { content: "hi" }]);
});

Deno.test("x-include-thinking re-wraps reasoning in the markers, closing an open block", () => {
  const o = new ChatOutput({ includeThinking: true, markers, tools: null });
  const out = [
    ...o.startInReasoning(),
    ...o.push([{ kind: "reasoning", text: "a" }]),
    ...o.finish(),
  ];
  assertEquals(text(out), "<think>a</think>");
});

Deno.test("XML tool calls get their argument types from the request's schemas", () => {
  const o = new ChatOutput({
    includeThinking: false,
    markers: null,
    tools: {
      format: "qwen_xml",
      tools: [{
        function: {
          name: "forecast",
          parameters: {
            type: "object",
            properties: { city: { type: "string" }, days: { type: "integer" } },
          },
        },
      }],
    },
  });
  const gen =
    "<tool_call>\n<function=forecast>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>";
  const pieces = [...o.push([{ kind: "content", text: gen }]), ...o.finish()];
  const args = pieces.flatMap((p) => p.toolCalls ?? []).map((d) => d.function?.arguments ?? "")
    .join("");
  assertEquals(JSON.parse(args), { city: "Paris", days: 3 });
  assertEquals(o.calledTools, true);
});
