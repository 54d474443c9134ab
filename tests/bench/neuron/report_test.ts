import { assertEquals, assertMatch } from "../../assert.ts";
import { type Pair, renderReport, summarize, verdict } from "./report.ts";

const req = (ttftMs: number, endMs = ttftMs) => ({
  ttftMs,
  endMs,
  promptTokens: 20,
  completionTokens: 101,
});
const pair = (http: number, engine: number, httpGen = 1000, engineGen = 1000): Pair => ({
  http: req(http, http + httpGen),
  engine: req(engine, engine + engineGen),
});

Deno.test("summarize compares peers pair by pair", () => {
  const r = summarize({
    fresh: [pair(50, 40), pair(60, 58), pair(90, 45)],
    repeated: [pair(11, 10), pair(12, 10), pair(30, 10)],
    gen: [pair(10, 10, 1000, 950), pair(10, 10, 1000, 990), pair(10, 10, 2000, 1000)],
  }, {
    setup: { model: "bench", context: 1024, threads: 1, maxTokens: 101 },
    rounds: 1,
    notes: [],
  });
  assertEquals(r.ttftFresh.paired, 10); // differences 10, 2, 45
  assertEquals(r.ttftRepeated.paired, 2); // differences 1, 2, 20
  assertEquals(r.ttftRepeated.http, 12);
  assertEquals(r.tokensPerS.paired, 0.95); // ratios 0.95, 0.99, 0.5
  assertEquals(r.tokensPerS.http, 100);
  const [rate, ttft] = r.targets;
  assertEquals(verdict(rate), "PASS");
  assertEquals(verdict(ttft), "FAIL");
  const text = renderReport(r);
  assertMatch(text, /PASS\s+streamed tokens\/s, HTTP \/ in-process \(median of pairs\): 0\.950×/);
  assertMatch(text, /FAIL\s+TTFT overhead at p50.*: 2\.000 ms \(target < 2 ms\)/);
  assertMatch(text, /3 new-prompt and 3 repeated-prompt one-token requests, 3 × 101-token/);
});
