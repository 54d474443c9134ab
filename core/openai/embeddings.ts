/** OpenAI embeddings (`POST /v1/embeddings`): request and response. */
import { z } from "zod";
import { TokenIdSchema } from "./common.ts";

export const EmbeddingRequestSchema = z.looseObject({
  model: z.string().min(1),
  input: z.union([
    z.string(),
    z.array(z.string()).min(1, "at least one input is required"),
    z.array(TokenIdSchema).min(1, "at least one token is required"),
    z.array(z.array(TokenIdSchema).min(1)).min(1, "at least one input is required"),
  ]),
  /** The official SDK asks for `base64` unless told otherwise. */
  encoding_format: z.enum(["float", "base64"]).nullish(),
  dimensions: z.int().positive().nullish(),
  user: z.string().nullish(),
  /**
   * A cortex extension (Ollama's `truncate`): cut an input longer than the embedding context
   * to its first tokens instead of refusing it. Off by default, as OpenAI refuses.
   */
  truncate: z.boolean().nullish(),
});
export type EmbeddingRequest = z.infer<typeof EmbeddingRequestSchema>;

export const EmbeddingResponseSchema = z.object({
  object: z.literal("list"),
  data: z.array(
    z.object({
      object: z.literal("embedding"),
      index: z.int().nonnegative(),
      /** Floats, or with `encoding_format: "base64"` little-endian float32 bytes in base64. */
      embedding: z.union([z.array(z.number()), z.string()]),
    }),
  ),
  model: z.string(),
  usage: z.object({ prompt_tokens: z.int().nonnegative(), total_tokens: z.int().nonnegative() }),
});
export type EmbeddingResponse = z.infer<typeof EmbeddingResponseSchema>;

/** Encodes a vector the way OpenAI's `encoding_format: "base64"` does (float32, little-endian). */
export function encodeEmbeddingBase64(values: ArrayLike<number>): string {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  const bytes = new Uint8Array(view.buffer);
  let binary = "";
  const step = 0x8000; // String.fromCharCode takes a bounded number of arguments.
  for (let i = 0; i < bytes.length; i += step) {
    binary += String.fromCharCode(...bytes.subarray(i, i + step));
  }
  return btoa(binary);
}

/** Inverse of `encodeEmbeddingBase64`. */
export function decodeEmbeddingBase64(b64: string): number[] {
  const binary = atob(b64);
  if (binary.length % 4 !== 0) {
    throw new Error("base64 embedding is not a whole number of float32s");
  }
  const view = new DataView(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) view.setUint8(i, binary.charCodeAt(i));
  const out = new Array<number>(binary.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
