/**
 * One benchmark round: B concurrent requests, each a fresh prompt of PP tokens generating TG
 * tokens, measured with the same quantities as llama.cpp's llama-batched-bench so the two can
 * be compared line by line:
 *
 *   T_PP = the latest time to first token        S_PP = B·PP / T_PP     (prompt tok/s)
 *   T_TG = T − T_PP                              S_TG = B·(TG−1) / T_TG (generation tok/s)
 *   T    = the latest completion                 S    = B·(PP+TG) / T
 *
 * Times are the engine's own (submit → first sampled token, submit → done). The first token
 * comes out of prefill, so generation counts TG−1 decoded tokens per request.
 */

import type { Engine } from "../../neuron/engine/engine.ts";
import type { EngineEvent, FinishReason, SamplingParams } from "../../neuron/engine/types.ts";

type Done = Extract<EngineEvent, { type: "done" }>;

export interface RoundResult {
  batch: number;
  /** Prompt tokens per request (prefilled, i.e. minus any reused from a slot's cache). */
  promptTokens: number;
  /** Generated tokens per request (the smallest, when some stopped early). */
  genTokens: number;
  tPpS: number;
  sPp: number;
  tTgS: number;
  sTg: number;
  tS: number;
  s: number;
  /** Mean over requests of (completion − 1) / (total − ttft): one stream's decode speed. */
  perStreamTg: number;
  /** Prompt tokens served from a slot's cache (should be 0: every prompt is fresh). */
  cachedTokens: number;
  finish: Partial<Record<FinishReason, number>>;
}

/** Computes a round's figures from each request's `done` event. */
export function roundStats(done: Done[]): RoundResult {
  if (!done.length) throw new RangeError("roundStats: no finished requests");
  const sum = (f: (d: Done) => number) => done.reduce((a, d) => a + f(d), 0);
  const tPp = Math.max(...done.map((d) => d.timings.ttftMs)) / 1000;
  const t = Math.max(...done.map((d) => d.timings.totalMs)) / 1000;
  const prefilled = sum((d) => d.usage.promptTokens - d.usage.cachedTokens);
  const decoded = sum((d) => Math.max(0, d.usage.completionTokens - 1));
  const tTg = t - tPp;
  const finish: Partial<Record<FinishReason, number>> = {};
  for (const d of done) finish[d.finishReason] = (finish[d.finishReason] ?? 0) + 1;
  const streams = done.filter((d) => d.usage.completionTokens > 1);
  return {
    batch: done.length,
    promptTokens: Math.round(prefilled / done.length),
    genTokens: Math.min(...done.map((d) => d.usage.completionTokens)),
    tPpS: tPp,
    sPp: prefilled / tPp,
    tTgS: tTg,
    sTg: tTg > 0 ? decoded / tTg : 0,
    tS: t,
    s: (prefilled + sum((d) => d.usage.completionTokens)) / t,
    perStreamTg: streams.length
      ? streams.reduce(
        (a, d) =>
          a + (d.usage.completionTokens - 1) / ((d.timings.totalMs - d.timings.ttftMs) / 1000),
        0,
      ) / streams.length
      : 0,
    cachedTokens: sum((d) => d.usage.cachedTokens),
    finish,
  };
}

/** Runs the prompts concurrently to completion; any engine error fails the round. */
export async function runRound(
  engine: Engine,
  key: string,
  prompts: number[][],
  genTokens: number,
  sampling: SamplingParams,
): Promise<RoundResult> {
  const done = await Promise.all(prompts.map(async (prompt, i) => {
    let last: Done | undefined;
    for await (
      const ev of engine.stream(key, { prompt, maxTokens: genTokens, sampling, stop: [] })
    ) {
      if (ev.type === "error") throw new Error(`request ${i}: ${ev.code}: ${ev.message}`);
      if (ev.type === "done") last = ev;
    }
    if (!last) throw new Error(`request ${i}: the stream ended without a done event`);
    return last;
  }));
  return roundStats(done);
}

/** Averages the rates of repeated rounds of one shape (times too, for the table). */
export function meanRounds(rounds: RoundResult[]): RoundResult {
  if (!rounds.length) throw new RangeError("meanRounds: no rounds");
  const mean = (f: (r: RoundResult) => number) =>
    rounds.reduce((a, r) => a + f(r), 0) / rounds.length;
  const finish: Partial<Record<FinishReason, number>> = {};
  for (const r of rounds) {
    for (const [k, v] of Object.entries(r.finish)) {
      finish[k as FinishReason] = (finish[k as FinishReason] ?? 0) + v;
    }
  }
  return {
    batch: rounds[0].batch,
    promptTokens: rounds[0].promptTokens,
    genTokens: Math.min(...rounds.map((r) => r.genTokens)),
    tPpS: mean((r) => r.tPpS),
    sPp: mean((r) => r.sPp),
    tTgS: mean((r) => r.tTgS),
    sTg: mean((r) => r.sTg),
    tS: mean((r) => r.tS),
    s: mean((r) => r.s),
    perStreamTg: mean((r) => r.perStreamTg),
    cachedTokens: rounds.reduce((a, r) => a + r.cachedTokens, 0),
    finish,
  };
}
