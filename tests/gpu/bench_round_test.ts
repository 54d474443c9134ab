import { assertEquals } from "../assert.ts";
import { meanRounds, roundStats } from "./bench_round.ts";

const done = (ttftMs: number, totalMs: number, completion: number, cached = 0) => ({
  type: "done" as const,
  finishReason: "length" as const,
  usage: {
    promptTokens: 512,
    cachedTokens: cached,
    completionTokens: completion,
    reasoningTokens: 0,
    draftedTokens: 0,
    acceptedTokens: 0,
  },
  timings: { queuedMs: 0, ttftMs, totalMs },
});

Deno.test("roundStats uses llama-batched-bench's definitions", () => {
  const r = roundStats([done(100, 1100, 128), done(200, 1200, 128, 12)]);
  assertEquals([r.batch, r.tPpS, r.tS], [2, 0.2, 1.2]);
  // prompt: 512 + (512 - 12) prefilled tokens by the latest first token
  assertEquals(r.sPp, 1012 / 0.2);
  // generation: 127 decoded tokens per request after the latest first token
  assertEquals(r.tTgS, 1.2 - 0.2);
  assertEquals(r.sTg, 254 / r.tTgS);
  assertEquals(r.s, (1012 + 256) / 1.2);
  // each stream decoded 127 tokens in 1.0 s
  assertEquals(r.perStreamTg, 127);
  assertEquals([r.promptTokens, r.genTokens, r.cachedTokens], [506, 128, 12]);
  assertEquals(r.finish, { length: 2 });
});

Deno.test("meanRounds averages rates and adds up finish reasons", () => {
  const a = roundStats([done(100, 1100, 128)]);
  const b = roundStats([done(300, 1300, 64)]);
  const m = meanRounds([a, b]);
  assertEquals(m.sPp, (a.sPp + b.sPp) / 2);
  assertEquals(m.sTg, (a.sTg + b.sTg) / 2);
  assertEquals(m.genTokens, 64);
  assertEquals(m.finish, { length: 2 });
});
