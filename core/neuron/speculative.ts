/**
 * Speculative decoding modes: tokens drafted by prompt lookup (`ngram`: n-grams of the
 * prompt and the output so far) or by a draft model (`draft`) and verified by the model in
 * one step. The output is the same as without (`off`); only its speed changes. Its own
 * module: the OpenAI request fields and the neuron's schemas both use it.
 */

import { z } from "zod";

export const SpeculativeModeSchema = z.enum(["off", "ngram", "draft"]);
export type SpeculativeMode = z.infer<typeof SpeculativeModeSchema>;

/** Most tokens a sequence may draft per step. */
export const DRAFT_MAX_LIMIT = 64;
