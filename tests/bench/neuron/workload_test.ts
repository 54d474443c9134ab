import { assertEquals } from "../../assert.ts";
import { promptTexts, streamRate } from "./workload.ts";

Deno.test("streamRate counts the tokens after the first over the time after it", () => {
  assertEquals(streamRate({ ttftMs: 100, endMs: 1100, promptTokens: 9, completionTokens: 51 }), 50);
  assertEquals(streamRate({ ttftMs: 5, endMs: 5, promptTokens: 9, completionTokens: 1 }), NaN);
});

Deno.test("promptTexts are distinct", () => {
  const t = promptTexts(8);
  assertEquals(new Set(t).size, 8);
});
