import { assert, assertEquals, assertNotEquals } from "../tests/assert.ts";
import { AffinityTable, conversationKey } from "./affinity.ts";

const SYSTEM = "You are Claude Code. ".repeat(2000);
const TOOLS = [{ name: "Read", input_schema: { type: "object" } }];

/** An Anthropic-dialect agent request after `turns` exchanges. */
function turn(first: string, turns: number) {
  const messages: unknown[] = [{ role: "user", content: first }];
  for (let i = 0; i < turns; i++) {
    messages.push({ role: "assistant", content: `answer ${i}` });
    messages.push({ role: "user", content: `next ${i}` });
  }
  return { model: "qwen3", system: SYSTEM, tools: TOOLS, messages };
}

const none = new Headers();

Deno.test("every turn of one conversation has the same key; another conversation another", () => {
  const k1 = conversationKey(none, turn("fix the test", 0));
  assert(k1 !== null);
  assertEquals(conversationKey(none, turn("fix the test", 1)), k1);
  assertEquals(conversationKey(none, turn("fix the test", 7)), k1);
  // Same system prompt and tools, another first request: another conversation.
  assertNotEquals(conversationKey(none, turn("write docs", 1)), k1);
  // Another model: another cache.
  assertNotEquals(conversationKey(none, { ...turn("fix the test", 1), model: "llama" }), k1);
});

Deno.test("a leading system turn inside messages is part of the head, as Claude Code sends", () => {
  const body = (reminder: string, n: number) => ({
    ...turn("go", n),
    messages: [{ role: "system", content: reminder }, ...turn("go", n).messages],
  });
  assertEquals(conversationKey(none, body("a", 0)), conversationKey(none, body("a", 3)));
  assertNotEquals(conversationKey(none, body("a", 0)), conversationKey(none, body("b", 0)));
});

Deno.test("Responses input (list or string) and instructions key the same way", () => {
  const r = (input: unknown) => ({ model: "m", instructions: "codex", input });
  const k = conversationKey(none, r([{ role: "user", content: "hi" }]));
  assertEquals(
    conversationKey(none, r([{ role: "user", content: "hi" }, { type: "function_call" }])),
    k,
  );
  assertEquals(conversationKey(none, r("hi")), k);
  assertEquals(conversationKey(none, { model: "m" }), null);
});

Deno.test("session headers and prompt_cache_key win over the hash", () => {
  const a = conversationKey(
    new Headers({ "x-claude-code-session-id": "abc" }),
    turn("one", 0),
  );
  const b = conversationKey(
    new Headers({ "x-claude-code-session-id": "abc" }),
    turn("compacted history", 0),
  );
  assertEquals(a, b);
  assertEquals(a, "s:qwen3:abc");
  assertEquals(conversationKey(new Headers({ session_id: "c1" }), { model: "m" }), "s:m:c1");
  assertEquals(conversationKey(none, { model: "m", prompt_cache_key: "k" }), "s:m:k");
});

Deno.test("the table sends a conversation back to its neuron while it is eligible", () => {
  let now = 0;
  const t = new AffinityTable({ maxEntries: 2, ttlMs: 1000, now: () => now });
  assertEquals(t.pick("a", ["n1", "n2"]), null);
  t.record("a", "n2");
  assertEquals(t.pick("a", ["n1", "n2"]), "n2");
  // Not eligible (down, or not holding the model): the router decides.
  assertEquals(t.pick("a", ["n1"]), null);
  assertEquals(t.pick(null, ["n1"]), null);
  // Bounded: the least recently used is forgotten first.
  t.record("b", "n1");
  t.pick("a", ["n2"]);
  t.record("a", "n2");
  t.record("c", "n1");
  assertEquals([t.size, t.pick("b", ["n1"]), t.pick("a", ["n2"])], [2, null, "n2"]);
  // Aged out: its cache has likely been reused by now.
  now = 5000;
  assertEquals(t.pick("a", ["n2"]), null);
  t.record("d", "n1");
  t.forgetNeuron("n1");
  assertEquals(t.pick("d", ["n1"]), null);
});
