/** Schemas shared by the OpenAI chat, text-completion and embedding endpoints. */
import { z } from "zod";
import { checkJsonSchema } from "../grammar/check_schema.ts";
import { SpeculativeModeSchema } from "../neuron/speculative.ts";
import { jsonDepth, jsonTextDepth, MAX_JSON_DEPTH, tooDeepMessage } from "../json_depth.ts";

/**
 * A JSON Schema given in a request (`response_format.json_schema.schema`, a tool's
 * `parameters`): an object, nested within `MAX_JSON_DEPTH`, whose subschemas are schemas and
 * whose `type`s are JSON Schema's. `object`: it describes a tool's arguments, so its `type`,
 * if any, must include "object". `code` is the error code a bad one gets.
 */
export function jsonSchemaObject(opts: { object?: boolean; code: string }) {
  return z.record(z.string(), z.unknown()).superRefine((schema, ctx) => {
    const problem = checkJsonSchema(schema, { object: opts.object });
    if (problem) ctx.addIssue({ code: "custom", message: problem.message, params: opts });
  });
}

/** Free-form JSON (template variables, tool-call arguments) within `MAX_JSON_DEPTH`. */
export const BoundedRecordSchema = z.record(z.string(), z.unknown()).refine(
  (v) => jsonDepth(v, MAX_JSON_DEPTH) <= MAX_JSON_DEPTH,
  tooDeepMessage(),
);

/** JSON text (tool-call arguments) whose objects and arrays nest within `MAX_JSON_DEPTH`. */
export const BoundedJsonTextSchema = z.string().refine(
  (v) => jsonTextDepth(v, MAX_JSON_DEPTH) <= MAX_JSON_DEPTH,
  tooDeepMessage(),
);

/** Token counts as OpenAI reports them (`usage`). */
export const UsageSchema = z.object({
  prompt_tokens: z.int().nonnegative(),
  completion_tokens: z.int().nonnegative(),
  total_tokens: z.int().nonnegative(),
  completion_tokens_details: z
    .object({ reasoning_tokens: z.int().nonnegative().optional() })
    .nullish(),
  /** `cached_tokens`: prompt tokens served from the KV cache (prefix reuse). */
  prompt_tokens_details: z.object({ cached_tokens: z.int().nonnegative().optional() }).nullish(),
});
export type Usage = z.infer<typeof UsageSchema>;

export const StreamOptionsSchema = z.looseObject({ include_usage: z.boolean().nullish() });

/** OpenAI allows up to 4 stop strings; llama.cpp and vLLM take more, so we accept 16. */
export const StopSchema = z.union([
  z.string(),
  z.array(z.string()).max(16, "at most 16 stop strings are supported"),
]);

/** The largest token id: llama.cpp's `llama_token` is an int32, and a larger id would wrap. */
export const MAX_TOKEN_ID = 2 ** 31 - 1;
const TOKEN_ID_RANGE = `token ids are at most ${MAX_TOKEN_ID}`;

/** A token id in a prompt or embedding input; the model's vocabulary is checked later. */
export const TokenIdSchema = z.int().nonnegative().max(MAX_TOKEN_ID, TOKEN_ID_RANGE);

/** Keys are token ids (decimal strings), values a bias in [-100, 100]. */
export const LogitBiasSchema = z.record(
  z.string().regex(/^\d+$/, "keys must be token ids").refine(
    (k) => Number(k) <= MAX_TOKEN_ID,
    TOKEN_ID_RANGE,
  ),
  z.number().min(-100).max(100),
);

/** Sampling fields common to chat and text completions, with OpenAI's ranges. */
export const samplingFields = {
  max_tokens: z.int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  n: z
    .int()
    .nullish()
    .refine((n) => n == null || n === 1, "only n=1 is supported"),
  stop: StopSchema.nullish(),
  seed: z.int().nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: LogitBiasSchema.nullish(),
  user: z.string().nullish(),
  stream: z.boolean().nullish(),
  stream_options: StreamOptionsSchema.nullish(),
  // llama.cpp-style extensions.
  /** Keep only the k most likely tokens; 0 disables. */
  top_k: z.int().nonnegative().nullish(),
  /** Drop tokens below `min_p` × the top token's probability. */
  min_p: z.number().min(0).max(1).nullish(),
  /** Penalty for repeating recent tokens; 1 disables. */
  repeat_penalty: z.number().min(0).max(10).nullish(),
  /**
   * cortex extension: how this request drafts tokens ("off", "ngram" prompt lookup, "draft"
   * with the model's draft model); absent = the model's default. The output is the same.
   */
  speculative: SpeculativeModeSchema.nullish(),
} as const;

/** vLLM's `stop_reason`: the stop string that matched, a stop token id, or null. */
export const StopReasonSchema = z.union([z.string(), z.number(), z.null()]);
