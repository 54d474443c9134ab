/**
 * What cortex answers on the Responses API: the Response object, its output items, usage
 * and the streaming events. Shapes follow the official SDK's types
 * (`openai/resources/responses`), whose client and stream accumulator our tests use.
 */
import { z } from "zod";

export const ItemStatusSchema = z.enum(["in_progress", "completed", "incomplete"]);
export type ItemStatus = z.infer<typeof ItemStatusSchema>;

export const OutputTextSchema = z.object({
  type: z.literal("output_text"),
  text: z.string(),
  annotations: z.array(z.unknown()),
});

export const OutputRefusalSchema = z.object({ type: z.literal("refusal"), refusal: z.string() });

export const OutputContentSchema = z.discriminatedUnion("type", [
  OutputTextSchema,
  OutputRefusalSchema,
]);
export type OutputContent = z.infer<typeof OutputContentSchema>;

export const OutputMessageSchema = z.object({
  type: z.literal("message"),
  id: z.string(),
  status: ItemStatusSchema,
  role: z.literal("assistant"),
  content: z.array(OutputContentSchema),
});
export type OutputMessage = z.infer<typeof OutputMessageSchema>;

export const SummaryTextSchema = z.object({ type: z.literal("summary_text"), text: z.string() });

/** The model's reasoning, as one summary part holding its text. */
export const OutputReasoningSchema = z.object({
  type: z.literal("reasoning"),
  id: z.string(),
  summary: z.array(SummaryTextSchema),
  status: ItemStatusSchema,
});
export type OutputReasoning = z.infer<typeof OutputReasoningSchema>;

export const OutputFunctionCallSchema = z.object({
  type: z.literal("function_call"),
  id: z.string(),
  call_id: z.string(),
  name: z.string(),
  /** JSON text as the model wrote it; may be invalid or cut off (status `incomplete`). */
  arguments: z.string(),
  status: ItemStatusSchema,
});
export type OutputFunctionCall = z.infer<typeof OutputFunctionCallSchema>;

export const OutputItemSchema = z.discriminatedUnion("type", [
  OutputMessageSchema,
  OutputReasoningSchema,
  OutputFunctionCallSchema,
]);
export type OutputItem = z.infer<typeof OutputItemSchema>;

export const ResponseUsageSchema = z.object({
  input_tokens: z.int().nonnegative(),
  /** `cached_tokens`: prompt tokens served from the KV cache (the neuron's prefix reuse). */
  input_tokens_details: z.object({ cached_tokens: z.int().nonnegative() }),
  output_tokens: z.int().nonnegative(),
  output_tokens_details: z.object({ reasoning_tokens: z.int().nonnegative() }),
  total_tokens: z.int().nonnegative(),
});
export type ResponseUsage = z.infer<typeof ResponseUsageSchema>;

/** `server_error` for a node or upstream failure, `rate_limit_exceeded` for overload. */
export const ResponseErrorSchema = z.object({ code: z.string(), message: z.string() });
export type ResponseError = z.infer<typeof ResponseErrorSchema>;

export const ResponseStatusSchema = z.enum([
  "in_progress",
  "completed",
  "incomplete",
  "failed",
]);
export type ResponseStatus = z.infer<typeof ResponseStatusSchema>;

/** A tool the request offered that cannot run on cortex and was left out of the prompt. */
export const DroppedToolSchema = z.object({ type: z.string(), name: z.string() });
export type DroppedTool = z.infer<typeof DroppedToolSchema>;

/** Echo of a function tool, normalized as the API echoes it (every field present). */
export const EchoedFunctionToolSchema = z.object({
  type: z.literal("function"),
  name: z.string(),
  description: z.string().nullable(),
  parameters: z.record(z.string(), z.unknown()).nullable(),
  strict: z.boolean().nullable(),
});
export type EchoedFunctionTool = z.infer<typeof EchoedFunctionToolSchema>;

export const ResponseObjectSchema = z.object({
  id: z.string(),
  object: z.literal("response"),
  /** Unix seconds. */
  created_at: z.int(),
  status: ResponseStatusSchema,
  background: z.boolean(),
  /** Unix seconds; set only when `status` is `completed`. */
  completed_at: z.int().nullable(),
  error: ResponseErrorSchema.nullable(),
  incomplete_details: z
    .object({ reason: z.enum(["max_output_tokens", "content_filter"]) })
    .nullable(),
  instructions: z.string().nullable(),
  max_output_tokens: z.int().nullable(),
  /** The name the client asked for (aliases stay aliases). */
  model: z.string(),
  output: z.array(OutputItemSchema),
  parallel_tool_calls: z.boolean(),
  previous_response_id: z.string().nullable(),
  reasoning: z.object({ effort: z.string().nullable(), summary: z.string().nullable() }),
  store: z.boolean(),
  temperature: z.number().nullable(),
  text: z.looseObject({ format: z.looseObject({ type: z.string() }) }),
  tool_choice: z.union([z.string(), z.looseObject({ type: z.string() })]),
  /** The function tools the model was offered; tools left out are in `cortex_dropped_tools`. */
  tools: z.array(EchoedFunctionToolSchema),
  top_p: z.number().nullable(),
  truncation: z.enum(["auto", "disabled"]),
  /** Null while in progress, and when the upstream reported none. */
  usage: ResponseUsageSchema.nullable(),
  /** Present when the request named one. */
  user: z.string().optional(),
  metadata: z.record(z.string(), z.string()),
  /**
   * cortex extension, present only when non-empty: tools of the request that were left out
   * of the prompt (hosted tools such as `web_search`). An extra top-level field, which the
   * SDK passes through untouched.
   */
  cortex_dropped_tools: z.array(DroppedToolSchema).optional(),
});
export type ResponseObject = z.infer<typeof ResponseObjectSchema>;

// ---------------------------------------------------------------------------------------
// Streaming events (each sent as `event: <type>` + `data: <json>`), every one numbered by
// `sequence_number` from 0.

const seq = { sequence_number: z.int().nonnegative() };
const itemRef = { item_id: z.string(), output_index: z.int().nonnegative() };
const partRef = { ...itemRef, content_index: z.int().nonnegative() };
const summaryRef = { ...itemRef, summary_index: z.int().nonnegative() };
const lifecycle = <T extends string>(type: T) =>
  z.object({ type: z.literal(type), ...seq, response: ResponseObjectSchema });

export const ResponsesStreamEventSchema = z.discriminatedUnion("type", [
  lifecycle("response.created"),
  lifecycle("response.in_progress"),
  lifecycle("response.completed"),
  lifecycle("response.incomplete"),
  lifecycle("response.failed"),
  z.object({
    type: z.literal("response.output_item.added"),
    ...seq,
    output_index: z.int().nonnegative(),
    item: OutputItemSchema,
  }),
  z.object({
    type: z.literal("response.output_item.done"),
    ...seq,
    output_index: z.int().nonnegative(),
    item: OutputItemSchema,
  }),
  z.object({
    type: z.literal("response.content_part.added"),
    ...seq,
    ...partRef,
    part: OutputContentSchema,
  }),
  z.object({
    type: z.literal("response.content_part.done"),
    ...seq,
    ...partRef,
    part: OutputContentSchema,
  }),
  z.object({
    type: z.literal("response.output_text.delta"),
    ...seq,
    ...partRef,
    delta: z.string(),
    logprobs: z.array(z.unknown()),
  }),
  z.object({
    type: z.literal("response.output_text.done"),
    ...seq,
    ...partRef,
    text: z.string(),
    logprobs: z.array(z.unknown()),
  }),
  z.object({ type: z.literal("response.refusal.delta"), ...seq, ...partRef, delta: z.string() }),
  z.object({ type: z.literal("response.refusal.done"), ...seq, ...partRef, refusal: z.string() }),
  z.object({
    type: z.literal("response.reasoning_summary_part.added"),
    ...seq,
    ...summaryRef,
    part: SummaryTextSchema,
  }),
  z.object({
    type: z.literal("response.reasoning_summary_part.done"),
    ...seq,
    ...summaryRef,
    part: SummaryTextSchema,
  }),
  z.object({
    type: z.literal("response.reasoning_summary_text.delta"),
    ...seq,
    ...summaryRef,
    delta: z.string(),
  }),
  z.object({
    type: z.literal("response.reasoning_summary_text.done"),
    ...seq,
    ...summaryRef,
    text: z.string(),
  }),
  z.object({
    type: z.literal("response.function_call_arguments.delta"),
    ...seq,
    ...itemRef,
    delta: z.string(),
  }),
  z.object({
    type: z.literal("response.function_call_arguments.done"),
    ...seq,
    ...itemRef,
    arguments: z.string(),
  }),
]);
export type ResponsesStreamEvent = z.infer<typeof ResponsesStreamEventSchema>;
export type ResponsesStreamEventType = ResponsesStreamEvent["type"];
