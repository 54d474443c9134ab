/**
 * What every peer of the engine benchmark runs, and what it reports back. The same
 * shapes cross into the Node peer as JSON, so they are zod schemas.
 */

import process from "node:process";
import { z } from "zod";
import { createPrng } from "../../fixtures/prng.ts";

/** Model and context settings, identical for every peer. */
export const SetupSchema = z.object({
  modelPath: z.string().min(1),
  /** Tokens of context per sequence. */
  context: z.int().positive(),
  /** Sequences in the one context (the 4-request case needs them all). */
  slots: z.int().positive(),
  nBatch: z.int().positive(),
  threads: z.int().positive(),
});
export type Setup = z.infer<typeof SetupSchema>;

/** The sizes of one round's three measurements. */
export const ShapeSchema = z.object({
  /** Length of the prompt whose processing time is measured. */
  promptTokens: z.int().positive(),
  /** Length of the short prompts the generation figures start from. */
  shortPromptTokens: z.int().positive(),
  /** Tokens one greedy stream generates. */
  genTokens: z.int().positive(),
  /** Concurrent requests in the aggregate figure. */
  concurrent: z.int().positive(),
  /** Tokens each concurrent request generates. */
  concurrentTokens: z.int().positive(),
});
export type Shape = z.infer<typeof ShapeSchema>;

export const DEFAULT_SHAPE: Shape = {
  promptTokens: 512,
  shortPromptTokens: 16,
  genTokens: 128,
  concurrent: 4,
  concurrentTokens: 128,
};

const tokens = z.array(z.int().nonnegative()).min(1);

/** One round's prompts (token ids), fresh per round so no peer can reuse a cached prefix. */
export const RoundPromptsSchema = z.object({
  long: tokens,
  single: tokens,
  concurrent: z.array(tokens).min(1),
});
export type RoundPrompts = z.infer<typeof RoundPromptsSchema>;

/**
 * One timed measurement: tokens processed or generated, the wall time it took, and the
 * CPU time its process spent meanwhile (all threads: on a busy machine this moves far less
 * than wall time, so it tells overhead from noise).
 */
export const MeasureSchema = z.object({
  tokens: z.int().nonnegative(),
  ms: z.number().positive(),
  cpuMs: z.number().nonnegative(),
});
export type Measure = z.infer<typeof MeasureSchema>;

export const RoundFiguresSchema = z.object({
  /** Prompt of `promptTokens`, one token generated: submit → done. */
  prompt: MeasureSchema,
  /** One stream of up to `genTokens` from a short prompt: submit → done. */
  single: MeasureSchema,
  /** `concurrent` streams started together: first submit → last done, tokens summed. */
  concurrent: MeasureSchema,
});
export type RoundFigures = z.infer<typeof RoundFiguresSchema>;

export const FIGURES = ["prompt", "single", "concurrent"] as const;
export type Figure = (typeof FIGURES)[number];

/** A peer measured by the benchmark: loaded once, then asked for one round at a time. */
export interface Peer {
  readonly name: string;
  round(prompts: RoundPrompts, shape: Shape): Promise<RoundFigures>;
  close(): Promise<void>;
}

export const tokensPerSecond = (m: Measure): number => m.tokens / (m.ms / 1000);
export const tokensPerCpuSecond = (m: Measure): number => m.tokens / (m.cpuMs / 1000);

/** Wall time of `fn` and the process's CPU time meanwhile; `tokens` is what it returns. */
export async function timed(fn: () => Promise<number>): Promise<Measure> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const tokens = await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { tokens, ms, cpuMs: (c.user + c.system) / 1000 };
}

/** Where benchmark prompts come from: ordinary tokens of the vocabulary, after its BOS. */
export interface PromptSource {
  pool: readonly number[];
  /** Prepended to every prompt when the vocabulary wants one (every peer then sees it). */
  bos: number | null;
}

/** Prompts per round: the long one, the single stream's, then the concurrent ones. */
export const promptsPerRound = (shape: Shape): number => 2 + shape.concurrent;

/**
 * Prompt `index` of round `round` (rounds from 0; the warm-up uses -1), `attempt` giving
 * another draw for the same place. Every prompt of the run starts (after BOS) with a
 * different pool token, so no slot's cache shares a token with a new prompt beyond BOS.
 */
export function promptAt(
  src: PromptSource,
  shape: Shape,
  round: number,
  index: number,
  length: number,
  attempt = 0,
): number[] {
  const k = promptsPerRound(shape) * (round + 1) + index;
  if (k >= src.pool.length) {
    throw new RangeError(`pool: ${src.pool.length} tokens cannot start ${k + 1} distinct prompts`);
  }
  const prng = createPrng(round + 1, `bench-prompt/${index}/${attempt}`);
  const out = src.bos === null ? [] : [src.bos];
  out.push(src.pool[k]);
  while (out.length < length) out.push(src.pool[prng.nextU32() % src.pool.length]);
  return out;
}

/** All prompts of a round; `attempts[i]` picks the draw for prompt i (default 0). */
export function roundPrompts(
  src: PromptSource,
  round: number,
  shape: Shape,
  attempts: readonly number[] = [],
): RoundPrompts {
  const at = (i: number, length: number) => promptAt(src, shape, round, i, length, attempts[i]);
  return {
    long: at(0, shape.promptTokens),
    single: at(1, shape.shortPromptTokens),
    concurrent: Array.from(
      { length: shape.concurrent },
      (_, i) => at(2 + i, shape.shortPromptTokens),
    ),
  };
}
