import { assertEquals, assertMatch } from "../../assert.ts";
import { medianResult, type PeerResult, prefillRate, renderTable, targets } from "./report.ts";

const run = (name: string, t1: number, t2: number): PeerResult => ({
  name,
  turn1: { ttftMs: t1, promptTokens: 30000, cachedTokens: 0 },
  turn2: { ttftMs: t2, promptTokens: 30300, cachedTokens: 30000 },
});

Deno.test("prefill rate counts only tokens not taken from the cache", () => {
  assertEquals(prefillRate(run("x", 10_000, 300).turn1), 3000);
  assertEquals(prefillRate(run("x", 10_000, 300).turn2), 1000);
});

Deno.test("medians per figure across rounds", () => {
  const m = medianResult("c", [run("c", 1, 10), run("c", 3, 30), run("c", 2, 20)]);
  assertEquals([m.turn1.ttftMs, m.turn2.ttftMs], [2, 20]);
});

Deno.test("the table compares with the peer and the targets say met or missed", () => {
  const c = run("cortex", 10_000, 400);
  const p = run("llama-server", 9_000, 500);
  const table = renderTable(c, p);
  assertMatch(table, /\| turn 2 TTFT ms \| 400 \| 500 \| 0\.80× \|/);
  assertMatch(table, /\| turn 2 \/ turn 1 TTFT \| 4\.0% \| 5\.6% \|/);
  assertEquals(targets(c, p).map((l) => l.endsWith("met")), [true, true]);
  assertEquals(targets(run("cortex", 1000, 200), p).map((l) => l.endsWith("MISSED")), [
    true,
    false,
  ]);
  assertEquals(targets(c, null).length, 1);
});
