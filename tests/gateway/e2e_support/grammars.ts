/**
 * GBNF grammars that make a random-weight fixture's output deterministic, and the request
 * options that carry them (see grammar_shim.ts).
 */

import { GRAMMAR_HEADER } from "./grammar_shim.ts";
import type { Stack } from "./stack.ts";

/** Fixture ids with a reasoning marker pair, as the e2e stacks name them. */
export type ReasoningModel = "think" | "bracket";

const MARKERS: Record<ReasoningModel, { open: string; close: string }> = {
  think: { open: "<think>", close: "</think>" },
  bracket: { open: "[THINK]", close: "[/THINK]" },
};

/** SDK request options (`{ headers }`) asking the neuron to follow `grammar`. */
export function withGrammar(grammar: string): { headers: Record<string, string> } {
  return { headers: { [GRAMMAR_HEADER]: grammar } };
}

/**
 * The token ids of a model's reasoning markers. A marker is one special token; GBNF names
 * it as `<[id]>`, since its text is not matched by character rules.
 */
export async function markerTokens(
  stack: Stack,
  model: ReasoningModel,
): Promise<{ open: number; close: number }> {
  const last = async (text: string) => (await stack.tokenIds(model, text)).at(-1)!;
  return { open: await last(MARKERS[model].open), close: await last(MARKERS[model].close) };
}

/** A few letters of reasoning, the close marker, then a space and a word of answer. */
export function thinkThenAnswer(close: number): string {
  return `root ::= [a-z]{4,8} <[${close}]> " " [a-z]{4,8}`;
}
