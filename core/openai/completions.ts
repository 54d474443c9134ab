/** OpenAI text completions (`POST /v1/completions`): request, response and streaming chunk. */
import { z } from "zod";
import { samplingFields, StopReasonSchema, TokenIdSchema, UsageSchema } from "./common.ts";

/** A prompt: text, texts, token ids, or lists of token ids (llama.cpp accepts all four). */
export const PromptSchema = z.union([
  z.string(),
  z.array(z.string()).min(1, "at least one prompt is required"),
  z.array(TokenIdSchema).min(1, "at least one token is required"),
  z.array(z.array(TokenIdSchema).min(1)).min(1, "at least one prompt is required"),
]);

/** Unknown top-level fields are tolerated and kept, as for chat completions. */
export const CompletionRequestSchema = z.looseObject({
  model: z.string().min(1),
  prompt: PromptSchema,
  suffix: z.string().nullish(),
  echo: z.boolean().nullish(),
  best_of: z
    .int()
    .nullish()
    .refine((n) => n == null || n === 1, "only best_of=1 is supported"),
  logprobs: z.int().min(0).max(5).nullish(),
  ...samplingFields,
});
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;

export const CompletionFinishReasonSchema = z.enum(["stop", "length", "content_filter"]);

const CompletionChoiceSchema = z.object({
  index: z.int().nonnegative(),
  text: z.string(),
  logprobs: z.unknown().nullish(),
  /** Null on every streamed chunk but the last of a choice. */
  finish_reason: CompletionFinishReasonSchema.nullable(),
  stop_reason: StopReasonSchema.optional(),
});

/** The response, and also each streamed chunk (same shape, partial `text`). */
export const CompletionSchema = z.object({
  id: z.string(),
  object: z.literal("text_completion"),
  created: z.int(),
  model: z.string(),
  choices: z.array(CompletionChoiceSchema),
  usage: UsageSchema.nullish(),
  system_fingerprint: z.string().nullish(),
});
export type Completion = z.infer<typeof CompletionSchema>;
