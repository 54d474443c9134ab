/**
 * OpenAI chat completions (`POST /v1/chat/completions`): the request, the response and the
 * streaming chunk. This is the dialect the neuron speaks; the gateway translates Anthropic
 * requests into it.
 */
import { z } from "zod";
import { HttpError } from "../errors.ts";
import {
  BoundedJsonTextSchema,
  BoundedRecordSchema,
  jsonSchemaObject,
  samplingFields,
  StopReasonSchema,
  UsageSchema,
} from "./common.ts";

// ---------------------------------------------------------------------------------------
// Request

export const TextPartSchema = z.looseObject({ type: z.literal("text"), text: z.string() });

/** Recognised so that callers can refuse it with a clear message (no model here sees images). */
export const ImagePartSchema = z.looseObject({
  type: z.literal("image_url"),
  image_url: z.looseObject({ url: z.string(), detail: z.string().nullish() }),
});

export const RefusalPartSchema = z.looseObject({
  type: z.literal("refusal"),
  refusal: z.string(),
});

const TextContent = z.union([z.string(), z.array(TextPartSchema)]);
const UserContent = z.union([
  z.string(),
  z.array(z.discriminatedUnion("type", [TextPartSchema, ImagePartSchema])),
]);

export const ToolCallSchema = z.object({
  id: z.string(),
  type: z.literal("function"),
  /** `arguments` is JSON text; templates get it parsed, so its nesting is bounded too. */
  function: z.object({ name: z.string(), arguments: BoundedJsonTextSchema }),
});
export type ToolCall = z.infer<typeof ToolCallSchema>;

export const SystemMessageSchema = z.object({
  role: z.literal("system"),
  content: TextContent,
  name: z.string().optional(),
});

export const DeveloperMessageSchema = z.object({
  role: z.literal("developer"),
  content: TextContent,
  name: z.string().optional(),
});

export const UserMessageSchema = z.object({
  role: z.literal("user"),
  content: UserContent,
  name: z.string().optional(),
});

export const AssistantMessageSchema = z.object({
  role: z.literal("assistant"),
  content: z
    .union([z.string(), z.array(z.discriminatedUnion("type", [TextPartSchema, RefusalPartSchema]))])
    .nullish(),
  /** Reasoning from an earlier turn (llama.cpp / vLLM extension); templates that know it render it. */
  reasoning_content: z.string().nullish(),
  tool_calls: z.array(ToolCallSchema).nullish(),
  name: z.string().optional(),
  refusal: z.string().nullish(),
});

export const ToolMessageSchema = z.object({
  role: z.literal("tool"),
  // Image parts are recognised here too so that callers refuse them with one message.
  content: UserContent,
  tool_call_id: z.string(),
});

export const ChatMessageSchema = z.discriminatedUnion("role", [
  SystemMessageSchema,
  DeveloperMessageSchema,
  UserMessageSchema,
  AssistantMessageSchema,
  ToolMessageSchema,
]);
export type ChatMessage = z.infer<typeof ChatMessageSchema>;
export type AssistantMessage = z.infer<typeof AssistantMessageSchema>;
export type ToolMessage = z.infer<typeof ToolMessageSchema>;
export type ContentPart = z.infer<typeof TextPartSchema> | z.infer<typeof ImagePartSchema>;

/** A function tool. Extra fields (vendor hints) are tolerated and kept. */
export const FunctionToolSchema = z.looseObject({
  type: z.literal("function"),
  function: z.looseObject({
    name: z.string().min(1).max(128),
    description: z.string().nullish(),
    /** JSON Schema of the arguments (an object schema); absent means no parameters. */
    parameters: jsonSchemaObject({ object: true, code: "invalid_function_parameters" }).nullish(),
    strict: z.boolean().nullish(),
  }),
});
export type FunctionTool = z.infer<typeof FunctionToolSchema>;

export const ToolChoiceSchema = z.union([
  z.enum(["auto", "none", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
]);
export type ToolChoice = z.infer<typeof ToolChoiceSchema>;

export const ResponseFormatSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().min(1).max(64),
      description: z.string().nullish(),
      /**
       * Required here, though OpenAI's SDK types it optional: a json_schema format without a
       * schema would constrain nothing, which a caller asking for one does not expect.
       */
      schema: jsonSchemaObject({ code: "invalid_json_schema" }),
      strict: z.boolean().nullish(),
    }),
  }),
]);
export type ResponseFormat = z.infer<typeof ResponseFormatSchema>;

export const ReasoningEffortSchema = z.enum([
  "none",
  "minimal",
  "low",
  "medium",
  "high",
  "xhigh",
  "max",
]);

/**
 * The chat completion request. Unknown top-level fields are tolerated and kept: OpenAI's own
 * API rejects them, but clients written for llama.cpp, vLLM or Ollama send vendor extras
 * (`cache_prompt`, `mirostat`, ...) and refusing them would break those clients for no
 * gain. Known fields are validated with OpenAI's ranges.
 */
export const ChatCompletionRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(ChatMessageSchema).min(1, "at least one message is required"),
  tools: z.array(FunctionToolSchema).nullish(),
  tool_choice: ToolChoiceSchema.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: ResponseFormatSchema.nullish(),
  max_completion_tokens: z.int().positive().nullish(),
  ...samplingFields,
  metadata: z.record(z.string(), z.string()).nullish(),
  store: z.boolean().nullish(),
  /** Extra variables for the chat template, e.g. `{enable_thinking: false}`. */
  chat_template_kwargs: BoundedRecordSchema.nullish(),
  /** cortex extension: how hard a reasoning model should think. */
  reasoning_effort: ReasoningEffortSchema.nullish(),
  /**
   * cortex extension: the most tokens a reasoning model may think before its answer starts
   * (Anthropic's `thinking.budget_tokens` arrives as this).
   */
  reasoning_budget_tokens: z.int().nonnegative().nullish(),
  /** Recognised so that the neuron can refuse `true` by name (it computes no logprobs). */
  logprobs: z.boolean().nullish(),
  top_logprobs: z.int().min(0).max(20).nullish(),
  /** Recognised so that anything but text output is refused by name (refuseUnhonoured). */
  modalities: z.array(z.string()).nullish(),
  audio: z.unknown().optional(),
  prediction: z.unknown().optional(),
  web_search_options: z.unknown().optional(),
}).superRefine((r, ctx) => {
  // OpenAI: "tool_choice is only allowed when tools are specified". "auto" and "none" ask
  // for nothing without tools and stay accepted; a call that must happen cannot.
  const choice = r.tool_choice;
  if ((choice === "required" || typeof choice === "object" && choice) && !r.tools?.length) {
    ctx.addIssue({
      code: "custom",
      path: ["tool_choice"],
      message: `${
        typeof choice === "object" ? "a named function" : '"required"'
      } forces a tool call, but the request has no tools`,
      params: { code: "invalid_value" },
    });
  }
});
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

/**
 * Fields the neuron cannot honour are refused by name rather than answered without them
 * (`logprobs: false`, `top_logprobs: 0`, `modalities: ["text"]` and nulls ask for nothing).
 */
export function refuseUnhonoured(r: ChatCompletionRequest): void {
  const refuse = (param: string, message: string) => {
    throw new HttpError(400, message, { param, code: "unsupported_parameter" });
  };
  if (r.logprobs === true) refuse("logprobs", "logprobs are not supported");
  if (r.top_logprobs) {
    refuse("top_logprobs", "top_logprobs is not supported (logprobs are not computed)");
  }
  const other = r.modalities?.find((m) => m !== "text");
  if (other !== undefined) {
    refuse("modalities", `modalities ${JSON.stringify(other)} is not supported (text output only)`);
  }
  if (r.audio != null) refuse("audio", "audio output is not supported (text output only)");
  if (r.prediction != null) {
    refuse("prediction", "prediction is not supported (predicted outputs are not implemented)");
  }
  if (r.web_search_options != null) {
    refuse("web_search_options", "web_search_options is not supported (there is no web search)");
  }
  // OpenAI answers 400 here too: the options only shape a stream.
  if (r.stream_options != null && r.stream !== true) {
    throw new HttpError(400, "stream_options is only allowed when stream is true", {
      param: "stream_options",
      code: "invalid_value",
    });
  }
}

/** The output budget a request asks for: `max_completion_tokens` wins over `max_tokens`. */
export function requestedMaxTokens(req: ChatCompletionRequest): number | undefined {
  return req.max_completion_tokens ?? req.max_tokens ?? undefined;
}

/** Plain text of a message's content: text parts joined, other parts skipped. */
export function contentText(
  content: string | readonly { type: string; text?: unknown }[] | null | undefined,
): string {
  if (content == null) return "";
  if (typeof content === "string") return content;
  let out = "";
  for (const part of content) {
    if (part.type === "text" && typeof part.text === "string") out += part.text;
  }
  return out;
}

/**
 * The OpenAI-style path (`messages[1].content[0]`) of the first image part in a request, or
 * null. Callers that serve text-only models refuse such requests naming this field.
 */
export function findImagePart(req: ChatCompletionRequest): string | null {
  for (let i = 0; i < req.messages.length; i++) {
    const content = req.messages[i].content;
    if (!Array.isArray(content)) continue;
    for (let j = 0; j < content.length; j++) {
      if (content[j].type === "image_url") return `messages[${i}].content[${j}]`;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Response

export const FinishReasonSchema = z.enum([
  "stop",
  "length",
  "tool_calls",
  "content_filter",
  "function_call",
]);
export type FinishReason = z.infer<typeof FinishReasonSchema>;

export const ChatCompletionMessageSchema = z.object({
  role: z.literal("assistant"),
  content: z.string().nullable(),
  /** Text the model produced inside its reasoning markers. */
  reasoning_content: z.string().nullish(),
  tool_calls: z.array(ToolCallSchema).nullish(),
  refusal: z.string().nullish(),
});
export type ChatCompletionMessage = z.infer<typeof ChatCompletionMessageSchema>;

export const ChatCompletionSchema = z.object({
  id: z.string(),
  object: z.literal("chat.completion"),
  created: z.int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.int().nonnegative(),
      message: ChatCompletionMessageSchema,
      finish_reason: FinishReasonSchema,
      /** vLLM extension: the stop string that matched, a stop token id, or null. */
      stop_reason: StopReasonSchema.optional(),
      logprobs: z.unknown().nullish(),
    }),
  ),
  usage: UsageSchema.optional(),
  system_fingerprint: z.string().nullish(),
});
export type ChatCompletion = z.infer<typeof ChatCompletionSchema>;

// ---------------------------------------------------------------------------------------
// Streaming chunk

export const ToolCallDeltaSchema = z.object({
  index: z.int().nonnegative(),
  id: z.string().nullish(),
  type: z.literal("function").nullish(),
  function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
});
export type ToolCallDelta = z.infer<typeof ToolCallDeltaSchema>;

export const ChatCompletionChunkSchema = z.object({
  id: z.string(),
  object: z.literal("chat.completion.chunk"),
  created: z.int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.int().nonnegative(),
      delta: z.object({
        role: z.literal("assistant").nullish(),
        content: z.string().nullish(),
        reasoning_content: z.string().nullish(),
        tool_calls: z.array(ToolCallDeltaSchema).nullish(),
        refusal: z.string().nullish(),
      }),
      finish_reason: FinishReasonSchema.nullish(),
      /**
       * vLLM extension: the stop string that matched (a string), a stop token id (a number) or
       * null. The neuron sets it so that the Anthropic side can report `stop_sequence`.
       */
      stop_reason: StopReasonSchema.optional(),
      logprobs: z.unknown().nullish(),
    }),
  ),
  /** Present on the last chunk (with empty `choices`) when `stream_options.include_usage`. */
  usage: UsageSchema.nullish(),
  system_fingerprint: z.string().nullish(),
});
export type ChatCompletionChunk = z.infer<typeof ChatCompletionChunkSchema>;
