/**
 * Anthropic Messages API requests: `POST /v1/messages` and `POST /v1/messages/count_tokens`.
 *
 * Strict where a mistake would change what the model sees (roles, block shapes, tool
 * definitions, numeric ranges); tolerant where the public API is: `cache_control` on any
 * block, `citations`, and unknown top-level fields (beta knobs such as `container` or
 * `service_tier`) are accepted and ignored.
 */
import { z } from "zod";
import { httpErrorFromZod } from "../errors.ts";
import { checkJsonSchema } from "../grammar/check_schema.ts";
import { SpeculativeModeSchema } from "../neuron/speculative.ts";

/** Prompt-cache hints; accepted everywhere the API allows them and otherwise ignored. */
const CacheControlSchema = z.looseObject({ type: z.string() }).nullish();

export const TextBlockSchema = z.object({
  type: z.literal("text"),
  text: z.string(),
  cache_control: CacheControlSchema,
  citations: z.unknown().optional(),
});

/** Typed so that callers can refuse it with a clear message; no model behind cortex sees images. */
export const ImageBlockSchema = z.object({
  type: z.literal("image"),
  source: z.discriminatedUnion("type", [
    z.object({ type: z.literal("base64"), media_type: z.string(), data: z.string() }),
    z.object({ type: z.literal("url"), url: z.string() }),
    z.object({ type: z.literal("file"), file_id: z.string() }),
  ]),
  cache_control: CacheControlSchema,
});

export const ToolUseBlockSchema = z.object({
  type: z.literal("tool_use"),
  id: z.string().min(1),
  name: z.string().min(1),
  input: z.record(z.string(), z.unknown()),
  cache_control: CacheControlSchema,
});

export const ToolResultBlockSchema = z.object({
  type: z.literal("tool_result"),
  tool_use_id: z.string().min(1),
  content: z
    .union([z.string(), z.array(z.discriminatedUnion("type", [TextBlockSchema, ImageBlockSchema]))])
    .optional(),
  is_error: z.boolean().optional(),
  cache_control: CacheControlSchema,
});

/** Reasoning from an earlier assistant turn. Its signature is ours and is not checked. */
export const ThinkingBlockSchema = z.object({
  type: z.literal("thinking"),
  thinking: z.string(),
  signature: z.string().optional(),
  cache_control: CacheControlSchema,
});

/** Opaque, encrypted reasoning from Anthropic's own models: carries no text, so it is dropped. */
export const RedactedThinkingBlockSchema = z.object({
  type: z.literal("redacted_thinking"),
  data: z.string(),
  cache_control: CacheControlSchema,
});

export const UserBlockSchema = z.discriminatedUnion("type", [
  TextBlockSchema,
  ImageBlockSchema,
  ToolResultBlockSchema,
]);

export const AssistantBlockSchema = z.discriminatedUnion("type", [
  TextBlockSchema,
  ToolUseBlockSchema,
  ThinkingBlockSchema,
  RedactedThinkingBlockSchema,
]);

export const MessageParamSchema = z.discriminatedUnion("role", [
  z.object({ role: z.literal("user"), content: z.union([z.string(), z.array(UserBlockSchema)]) }),
  z.object({
    role: z.literal("assistant"),
    content: z.union([z.string(), z.array(AssistantBlockSchema)]),
  }),
  // Accepted inside `messages` (newer SDKs send it); merged into the system prompt, in order.
  z.object({ role: z.literal("system"), content: z.union([z.string(), z.array(TextBlockSchema)]) }),
]);
export type MessageParam = z.infer<typeof MessageParamSchema>;
export type UserBlock = z.infer<typeof UserBlockSchema>;
export type AssistantBlock = z.infer<typeof AssistantBlockSchema>;

/**
 * A tool definition. A custom tool (no `type`, or `type: "custom"`) needs `input_schema`.
 * Server tools (`web_search_20250305`, `bash_20250124`, ...) are accepted here and filtered
 * out by the translation, which reports them: their schemas live at Anthropic, not here.
 */
export const ToolSchema = z
  .looseObject({
    type: z.string().nullish(),
    name: z.string().min(1).max(128),
    description: z.string().optional(),
    input_schema: z.looseObject({ type: z.string().optional() }).superRefine((schema, ctx) => {
      const problem = checkJsonSchema(schema, { object: true });
      if (problem) ctx.addIssue({ code: "custom", message: problem.message });
    }).optional(),
    cache_control: CacheControlSchema,
  })
  .superRefine((tool, ctx) => {
    if (isCustomTool(tool) && tool.input_schema === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["input_schema"],
        message: "is required for a custom tool",
      });
    }
  });
export type Tool = z.infer<typeof ToolSchema>;

export function isCustomTool(tool: { type?: string | null }): boolean {
  return tool.type == null || tool.type === "custom";
}

export const ToolChoiceSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto"), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal("any"), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({
    type: z.literal("tool"),
    name: z.string().min(1),
    disable_parallel_tool_use: z.boolean().optional(),
  }),
  z.object({ type: z.literal("none") }),
]);
export type ToolChoice = z.infer<typeof ToolChoiceSchema>;

const ThinkingDisplay = z.enum(["summarized", "omitted"]).nullish();

export const ThinkingConfigSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("enabled"),
    budget_tokens: z.int().positive(),
    display: ThinkingDisplay,
  }),
  z.object({ type: z.literal("adaptive"), display: ThinkingDisplay }),
  z.object({ type: z.literal("between_tools") }),
  z.object({ type: z.literal("disabled") }),
]);
export type ThinkingConfig = z.infer<typeof ThinkingConfigSchema>;

export const OutputConfigSchema = z.looseObject({
  effort: z.enum(["low", "medium", "high", "xhigh", "max"]).nullish(),
  /** Structured output: the reply is JSON matching `schema`. */
  format: z
    .object({ type: z.literal("json_schema"), schema: z.record(z.string(), z.unknown()) })
    .nullish(),
});

const SystemSchema = z.union([z.string(), z.array(TextBlockSchema)]);

/** Fields shared by `/v1/messages` and `/v1/messages/count_tokens`. */
const promptFields = {
  model: z.string().min(1),
  messages: z.array(MessageParamSchema).min(1, "at least one message is required"),
  system: SystemSchema.optional(),
  tools: z.array(ToolSchema).optional(),
  tool_choice: ToolChoiceSchema.optional(),
  thinking: ThinkingConfigSchema.optional(),
  output_config: OutputConfigSchema.optional(),
};

type PromptShape = {
  tools?: readonly Tool[];
  tool_choice?: ToolChoice;
};

/**
 * `tool_choice: {type: "tool", name}` must name one of the request's custom tools, and
 * `{type: "any"}` needs one to choose from (as the Messages API answers).
 */
function checkToolChoice(req: PromptShape, ctx: z.RefinementCtx): void {
  const choice = req.tool_choice;
  const names = (req.tools ?? []).filter(isCustomTool).map((t) => t.name);
  if (choice?.type === "any" && !names.length) {
    ctx.addIssue({
      code: "custom",
      path: ["tool_choice", "type"],
      message: `"any" needs at least one tool in tools the model can call`,
    });
  }
  if (choice?.type !== "tool") return;
  if (!names.includes(choice.name)) {
    ctx.addIssue({
      code: "custom",
      path: ["tool_choice", "name"],
      message: names.length
        ? `no tool named ${JSON.stringify(choice.name)} in tools (have: ${names.join(", ")})`
        : `names tool ${
          JSON.stringify(choice.name)
        } but the request defines no tools the model can call`,
    });
  }
}

/**
 * `POST /v1/messages`. Unknown top-level fields are stripped (ignored), as the brief for this
 * endpoint asks: clients send beta knobs that do not apply to a local model. cortex's own
 * extension `speculative` is typed, so a bad value is a 400 and a good one reaches the neuron;
 * `mcp_servers` is typed to refuse a request that depends on Anthropic's MCP connector.
 */
export const MessagesRequestSchema = z
  .object({
    ...promptFields,
    max_tokens: z.int().positive(),
    stop_sequences: z.array(z.string()).max(16, "at most 16 stop sequences are supported")
      .optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.int().nonnegative().optional(),
    metadata: z.looseObject({ user_id: z.string().nullish() }).optional(),
    stream: z.boolean().optional(),
    /** cortex extension, as on the OpenAI endpoints: typed so it is honoured, not stripped. */
    speculative: SpeculativeModeSchema.optional(),
    /**
     * The MCP connector (Anthropic calls the servers for the model): typed only to be refused
     * when it asks for any, since no answer here would have used them.
     */
    mcp_servers: z.array(z.unknown()).max(
      0,
      "MCP servers cannot be reached from cortex; connect them in the client and pass their tools",
    ).optional(),
  })
  .superRefine(checkToolChoice);
export type MessagesRequest = z.infer<typeof MessagesRequestSchema>;

/** `POST /v1/messages/count_tokens`: the prompt fields only. */
export const CountTokensRequestSchema = z.object(promptFields).superRefine(checkToolChoice);
export type CountTokensRequest = z.infer<typeof CountTokensRequestSchema>;

/** Parses a `/v1/messages` body; throws a 400 `HttpError` naming the field (`messages.0.role`). */
export function parseMessagesRequest(body: unknown): MessagesRequest {
  const result = MessagesRequestSchema.safeParse(body);
  if (!result.success) throw httpErrorFromZod(result.error, body, "dotted");
  return result.data;
}

/** Parses a `/v1/messages/count_tokens` body; throws a 400 `HttpError` naming the field. */
export function parseCountTokensRequest(body: unknown): CountTokensRequest {
  const result = CountTokensRequestSchema.safeParse(body);
  if (!result.success) throw httpErrorFromZod(result.error, body, "dotted");
  return result.data;
}
