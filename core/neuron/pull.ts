/**
 * `POST /models/pull`: the request body, the streamed progress events and the
 * result. The neuron produces these and the CLI / gateway read them with the
 * same schemas.
 *
 * Streamed answers are SSE: `event: progress` (PullProgress), then exactly one
 * of `event: done` (PullResult) or `event: error` (PullErrorEvent).
 */

import { z } from "zod";
import { MODEL_SOURCE_EXPECTED, parseModelSource } from "../config/model_source.ts";

export const PullRequestSchema = z.strictObject({
  /** `hf:org/repo/path/file.gguf` or `hf:org/repo:QUANT`. */
  source: z.string().min(1).max(500).superRefine((source, ctx) => {
    try {
      if (parseModelSource(source).kind === "hf") return;
      ctx.addIssue({
        code: "custom",
        message: `${JSON.stringify(source)} is a store path; a pull needs "hf:org/repo/file.gguf"` +
          ` or "hf:org/repo:QUANT"`,
      });
    } catch (e) {
      ctx.addIssue({
        code: "custom",
        message: `${JSON.stringify(source)} has ${
          (e as Error).message
        } (expected ${MODEL_SOURCE_EXPECTED})`,
      });
    }
  }),
  /** Answer with SSE progress events instead of one JSON body at the end. */
  stream: z.boolean().optional(),
});
export type PullRequest = z.infer<typeof PullRequestSchema>;

export const PullProgressSchema = z.object({
  /** Store id the pull lands as. */
  model: z.string(),
  /** The file being transferred now, relative to the store dir. */
  file: z.string(),
  /** Bytes on disk and verified-so-far, over all files of the model. */
  bytes: z.number(),
  /** Total bytes of all files; null when the hub did not say. */
  total: z.number().nullable(),
  /** Transfer rate over the last few seconds, bytes per second. */
  rate: z.number(),
});
export type PullProgress = z.infer<typeof PullProgressSchema>;

export const PulledFileSchema = z.object({
  /** Path relative to the store dir (`{repo}/{file}.gguf`). */
  path_relative: z.string(),
  size_bytes: z.number(),
  /**
   * sha256 of the contents: computed while downloading; for a file that was
   * already present, the hub's value (its size was checked, not its hash).
   * Null when neither is known.
   */
  sha256: z.string().nullable(),
});
export type PulledFile = z.infer<typeof PulledFileSchema>;

export const PullResultSchema = z.object({
  /** Store id: load it with `{"model": ..., "source": <this>}`. */
  model: z.string(),
  /** The model's (first) file, relative to the store dir. */
  path_relative: z.string(),
  /** All files together. */
  size_bytes: z.number(),
  /** sha256 of a one-file model (see PulledFile.sha256); null for split models. */
  sha256: z.string().nullable(),
  /** Every file of the model: one, or each part of a split GGUF. */
  files: z.array(PulledFileSchema),
  /** True when every file was already in the store and nothing was transferred. */
  already: z.boolean(),
});
export type PullResult = z.infer<typeof PullResultSchema>;

export const PullErrorEventSchema = z.object({
  status: z.number(),
  error: z.object({ message: z.string(), code: z.string().nullable() }),
});
export type PullErrorEvent = z.infer<typeof PullErrorEventSchema>;
