import { assertEquals } from "../../tests/assert.ts";
import { findMarkers, promptOpensReasoning } from "./reasoning.ts";

const vocab = (tokens: Record<string, number>) => (t: string) => tokens[t];

Deno.test("finds <think> pair when both are single tokens", () => {
  const m = findMarkers(vocab({ "<think>": 5, "</think>": 6 }));
  assertEquals(m, { open: "<think>", close: "</think>", openToken: 5, closeToken: 6 });
});

Deno.test("finds [THINK] pair", () => {
  const m = findMarkers(vocab({ "[THINK]": 9, "[/THINK]": 10 }));
  assertEquals(m?.open, "[THINK]");
});

Deno.test("half a pair is no pair", () => {
  assertEquals(findMarkers(vocab({ "<think>": 5 })), null);
  assertEquals(findMarkers(vocab({})), null);
});

Deno.test("prompt ending inside an opened marker starts in reasoning", () => {
  const m = { open: "<think>", close: "</think>", openToken: 5, closeToken: 6 };
  assertEquals(promptOpensReasoning([1, 2, 5, 7], m), true);
  assertEquals(promptOpensReasoning([1, 5, 8, 6, 7], m), false);
  assertEquals(promptOpensReasoning([1, 2, 3], m), false);
  assertEquals(promptOpensReasoning([1, 5], null), false);
});
