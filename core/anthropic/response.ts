/**
 * What cortex answers on the Anthropic Messages API: the message, its streaming events, the
 * token count. Shapes follow the official SDK's types (`@anthropic-ai/sdk`), which our
 * tests use as the client.
 */
import { z } from "zod";

export const StopReasonSchema = z.enum([
  "end_turn",
  "max_tokens",
  "stop_sequence",
  "tool_use",
  "pause_turn",
  "refusal",
]);
export type StopReason = z.infer<typeof StopReasonSchema>;

export const ResponseTextBlockSchema = z.object({ type: z.literal("text"), text: z.string() });

export const ResponseThinkingBlockSchema = z.object({
  type: z.literal("thinking"),
  thinking: z.string(),
  /** Opaque; see `THINKING_SIGNATURE`. */
  signature: z.string(),
});

export const ResponseToolUseBlockSchema = z.object({
  type: z.literal("tool_use"),
  id: z.string(),
  name: z.string(),
  input: z.unknown(),
});

export const ResponseContentBlockSchema = z.discriminatedUnion("type", [
  ResponseTextBlockSchema,
  ResponseThinkingBlockSchema,
  ResponseToolUseBlockSchema,
]);
export type ResponseContentBlock = z.infer<typeof ResponseContentBlockSchema>;

export const AnthropicUsageSchema = z.object({
  /** Prompt tokens not served from cache. */
  input_tokens: z.int().nonnegative(),
  output_tokens: z.int().nonnegative(),
  cache_creation_input_tokens: z.int().nonnegative().nullish(),
  /** Prompt tokens served from the KV cache (the neuron's prefix reuse). */
  cache_read_input_tokens: z.int().nonnegative().nullish(),
  output_tokens_details: z.object({ thinking_tokens: z.int().nonnegative() }).nullish(),
});
export type AnthropicUsage = z.infer<typeof AnthropicUsageSchema>;

/** A server tool the translation left out (only the client's own tools run here). */
export const DroppedToolSchema = z.object({ name: z.string(), type: z.string() });
export type DroppedTool = z.infer<typeof DroppedToolSchema>;

export const AnthropicMessageSchema = z.object({
  id: z.string(),
  type: z.literal("message"),
  role: z.literal("assistant"),
  model: z.string(),
  content: z.array(ResponseContentBlockSchema),
  stop_reason: StopReasonSchema.nullable(),
  stop_sequence: z.string().nullable(),
  usage: AnthropicUsageSchema,
  /**
   * cortex's own: server tools of the request (`web_search_20250305`, ...) that were left out,
   * since only the client's own tools can run here; absent when none were.
   */
  cortex_dropped_tools: z.array(DroppedToolSchema).optional(),
});
export type AnthropicMessage = z.infer<typeof AnthropicMessageSchema>;

export const CountTokensResponseSchema = z.object({ input_tokens: z.int().nonnegative() });
export type CountTokensResponse = z.infer<typeof CountTokensResponseSchema>;

// ---------------------------------------------------------------------------------------
// Streaming events (each sent as `event: <type>` + `data: <json>`).

export const StreamErrorTypeSchema = z.enum(["api_error", "overloaded_error"]);
export type StreamErrorType = z.infer<typeof StreamErrorTypeSchema>;

export const AnthropicStreamEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("message_start"), message: AnthropicMessageSchema }),
  z.object({
    type: z.literal("content_block_start"),
    index: z.int().nonnegative(),
    content_block: ResponseContentBlockSchema,
  }),
  z.object({
    type: z.literal("content_block_delta"),
    index: z.int().nonnegative(),
    delta: z.discriminatedUnion("type", [
      z.object({ type: z.literal("text_delta"), text: z.string() }),
      z.object({ type: z.literal("thinking_delta"), thinking: z.string() }),
      z.object({ type: z.literal("signature_delta"), signature: z.string() }),
      z.object({ type: z.literal("input_json_delta"), partial_json: z.string() }),
    ]),
  }),
  z.object({ type: z.literal("content_block_stop"), index: z.int().nonnegative() }),
  z.object({
    type: z.literal("message_delta"),
    delta: z.object({ stop_reason: StopReasonSchema, stop_sequence: z.string().nullable() }),
    usage: AnthropicUsageSchema.partial({ input_tokens: true }),
  }),
  z.object({ type: z.literal("message_stop") }),
  z.object({ type: z.literal("ping") }),
  z.object({
    type: z.literal("error"),
    error: z.object({ type: StreamErrorTypeSchema, message: z.string() }),
  }),
]);
export type AnthropicStreamEvent = z.infer<typeof AnthropicStreamEventSchema>;
