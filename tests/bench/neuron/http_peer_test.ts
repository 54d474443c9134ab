import { assertEquals } from "../../assert.ts";
import { carriesToken, takeEvents } from "./http_peer.ts";

Deno.test("takeEvents returns complete events' data and keeps the rest", () => {
  const { data, rest } = takeEvents(`data: {"a":1}\n\n: keepalive\n\ndata: [DONE]\n\ndata: {"b"`);
  assertEquals(data, [`{"a":1}`, "[DONE]"]);
  assertEquals(rest, `data: {"b"`);
});

Deno.test("carriesToken: text, reasoning, tool calls and the finish count; the role chunk not", () => {
  const c = (delta: object, finish: string | null = null) => ({
    choices: [{ delta, finish_reason: finish }],
  });
  assertEquals(carriesToken(c({ role: "assistant", content: "" })), false);
  assertEquals(carriesToken(c({ content: "x" })), true);
  assertEquals(carriesToken(c({ reasoning_content: "y" })), true);
  assertEquals(carriesToken(c({ tool_calls: [{}] })), true);
  assertEquals(carriesToken(c({}, "length")), true);
  assertEquals(carriesToken({ usage: { prompt_tokens: 1, completion_tokens: 1 } }), false);
});
