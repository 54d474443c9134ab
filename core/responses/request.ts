/**
 * OpenAI Responses API requests: `POST /v1/responses`.
 *
 * Shapes follow the official SDK's `ResponseCreateParams` (`openai/resources/responses`).
 * Strict where a mistake would change what the model sees (item and part shapes, roles,
 * tool definitions, numeric ranges); tolerant where the public API is:
 *
 * - `input` is a string or a list of items; a message item may omit `type`, and any item
 *   may carry `id` / `status` (items copied from an earlier response's `output`).
 * - Tools other than `function` (`web_search`, `file_search`, `mcp`, `custom`, ...) are
 *   accepted here and left out by the translation, which reports them.
 * - `store`, `include`, `metadata`, `truncation`, `service_tier`, `text.verbosity`,
 *   `reasoning.summary`, and unknown top-level fields are accepted; unknown ones are ignored.
 *
 * Refused here with a 400 naming the field: `item_reference` items (cortex keeps no item
 * store), `input_file` parts (no model here reads files), hosted-tool `tool_choice`s,
 * `background`, `conversation` and `prompt` (server-side features cortex does not have),
 * `top_logprobs` > 0 (no logprobs are computed).
 * `input_image` parts are typed and kept, so that callers refuse them naming the field
 * (`findImageInput`).
 */
import { z } from "zod";
import { httpErrorFromZod } from "../errors.ts";
import { ReasoningEffortSchema } from "../openai/chat.ts";
import { jsonSchemaObject } from "../openai/common.ts";
import { SpeculativeModeSchema } from "../neuron/speculative.ts";

// ---------------------------------------------------------------------------------------
// Content parts

export const InputTextPartSchema = z.looseObject({
  type: z.literal("input_text"),
  text: z.string(),
});

/** Text of an earlier assistant output; also tolerated in other roles. */
export const OutputTextPartSchema = z.looseObject({
  type: z.literal("output_text"),
  text: z.string(),
  annotations: z.array(z.unknown()).nullish(),
});

export const RefusalPartSchema = z.looseObject({
  type: z.literal("refusal"),
  refusal: z.string(),
});

/** Typed so that callers can refuse it naming the field; no model behind cortex sees images. */
export const InputImagePartSchema = z.looseObject({
  type: z.literal("input_image"),
  image_url: z.string().nullish(),
  file_id: z.string().nullish(),
  detail: z.string().nullish(),
});

/** Refused by the request schema (see `checkContent`). */
export const InputFilePartSchema = z.looseObject({ type: z.literal("input_file") });

export const ContentPartSchema = z.discriminatedUnion("type", [
  InputTextPartSchema,
  OutputTextPartSchema,
  RefusalPartSchema,
  InputImagePartSchema,
  InputFilePartSchema,
]);
export type ContentPart = z.infer<typeof ContentPartSchema>;

/** What a `function_call_output` may carry besides a string. */
export const ToolOutputPartSchema = z.discriminatedUnion("type", [
  InputTextPartSchema,
  OutputTextPartSchema,
  InputImagePartSchema,
  InputFilePartSchema,
]);
export type ToolOutputPart = z.infer<typeof ToolOutputPartSchema>;

// ---------------------------------------------------------------------------------------
// Input items

const ItemStatusSchema = z.enum(["in_progress", "completed", "incomplete"]);

export const MessageItemSchema = z.looseObject({
  type: z.literal("message"),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([z.string(), z.array(ContentPartSchema)]),
  id: z.string().nullish(),
  status: ItemStatusSchema.nullish(),
});
export type MessageItem = z.infer<typeof MessageItemSchema>;

export const FunctionCallItemSchema = z.looseObject({
  type: z.literal("function_call"),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  id: z.string().nullish(),
  status: ItemStatusSchema.nullish(),
});
export type FunctionCallItem = z.infer<typeof FunctionCallItemSchema>;

export const FunctionCallOutputItemSchema = z.looseObject({
  type: z.literal("function_call_output"),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(ToolOutputPartSchema)]),
  id: z.string().nullish(),
  status: ItemStatusSchema.nullish(),
});
export type FunctionCallOutputItem = z.infer<typeof FunctionCallOutputItemSchema>;

/**
 * Reasoning from an earlier turn. Its text (the summary, else the `reasoning_text` content)
 * becomes the next assistant message's `reasoning_content`; `encrypted_content` is OpenAI's
 * and carries nothing cortex can read, so it is ignored.
 */
export const ReasoningItemSchema = z.looseObject({
  type: z.literal("reasoning"),
  id: z.string().nullish(),
  summary: z.array(z.looseObject({ type: z.literal("summary_text"), text: z.string() }))
    .default([]),
  content: z.array(z.looseObject({ type: z.literal("reasoning_text"), text: z.string() }))
    .nullish(),
  encrypted_content: z.string().nullish(),
  status: ItemStatusSchema.nullish(),
});
export type ReasoningItem = z.infer<typeof ReasoningItemSchema>;

/** Refused by the request schema: cortex resolves no item ids. */
export const ItemReferenceSchema = z.looseObject({
  type: z.literal("item_reference"),
  id: z.string(),
});

/**
 * The public API lets a message omit `type` (`{role, content}`), and an item reference too
 * (`{id}`); the discriminator is filled in so that errors name the real fault.
 */
function withItemType(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const item = value as Record<string, unknown>;
  if (item.type != null) return value;
  if ("role" in item) return { ...item, type: "message" };
  if ("id" in item) return { ...item, type: "item_reference" };
  return value;
}

export const InputItemSchema = z.preprocess(
  withItemType,
  z.discriminatedUnion("type", [
    MessageItemSchema,
    FunctionCallItemSchema,
    FunctionCallOutputItemSchema,
    ReasoningItemSchema,
    ItemReferenceSchema,
  ]),
);
export type InputItem = z.infer<typeof InputItemSchema>;

// ---------------------------------------------------------------------------------------
// Tools

/** A function tool, flat as the Responses API has it (`name` beside `type`). */
export const FunctionToolSchema = z.looseObject({
  type: z.literal("function"),
  name: z.string().min(1).max(128),
  description: z.string().nullish(),
  /** JSON Schema of the arguments (an object schema); null or absent means no parameters. */
  parameters: jsonSchemaObject({ object: true, code: "invalid_function_parameters" }).nullish(),
  strict: z.boolean().nullish(),
});
export type FunctionTool = z.infer<typeof FunctionToolSchema>;

/**
 * Any other tool (`web_search`, `file_search`, `computer_use_preview`, `code_interpreter`,
 * `image_generation`, `mcp`, `local_shell`, `shell`, `custom`, `apply_patch`, and types
 * added later): accepted, left out of the prompt and reported by the translation.
 */
export const OtherToolSchema = z
  .looseObject({ type: z.string().min(1) })
  .refine((tool) => tool.type !== "function", {
    message: "is not a valid function tool",
    abort: true,
  });

// A malformed function tool fails both branches (the refinement aborts, so zod reports the
// union rather than the one branch that ran to the end); its own field issues lie deeper
// than the other branch's object-level one, so the error names them. The hosted branch
// comes first so that a tool without `type` is reported as such.
export const ToolSchema = z.union([OtherToolSchema, FunctionToolSchema]);
export type Tool = z.infer<typeof ToolSchema>;

export function isFunctionTool(tool: Tool): tool is FunctionTool {
  return tool.type === "function";
}

/** A short name for a tool that is not a function, for reports: its name, label or type. */
export function toolLabel(tool: Tool): string {
  const t = tool as Record<string, unknown>;
  for (const key of ["name", "server_label"]) {
    if (typeof t[key] === "string" && t[key]) return t[key] as string;
  }
  return tool.type;
}

export const ToolChoiceFunctionSchema = z.looseObject({
  type: z.literal("function"),
  name: z.string().min(1),
});
export type ToolChoiceFunction = z.infer<typeof ToolChoiceFunctionSchema>;

/** Restricts the model to a subset of `tools`. */
export const ToolChoiceAllowedSchema = z.looseObject({
  type: z.literal("allowed_tools"),
  mode: z.enum(["auto", "required"]),
  tools: z.array(z.looseObject({ type: z.string(), name: z.string().nullish() })),
});
export type ToolChoiceAllowed = z.infer<typeof ToolChoiceAllowedSchema>;

/** A hosted-tool choice (`{type: "web_search_preview"}`, `mcp`, `custom`, ...); refused. */
const OtherToolChoiceSchema = z
  .looseObject({ type: z.string().min(1) })
  .refine((c) => c.type !== "function" && c.type !== "allowed_tools", {
    message: "is not a valid choice",
    abort: true,
  });

export const ToolChoiceSchema = z.union([
  z.enum(["auto", "none", "required"]),
  OtherToolChoiceSchema,
  ToolChoiceFunctionSchema,
  ToolChoiceAllowedSchema,
]);
export type ToolChoice = z.infer<typeof ToolChoiceSchema>;

// The hosted-choice branch types `type` as any string, so TypeScript cannot narrow on it.
export function isFunctionChoice(choice: ToolChoice): choice is ToolChoiceFunction {
  return typeof choice === "object" && choice.type === "function";
}

export function isAllowedToolsChoice(choice: ToolChoice): choice is ToolChoiceAllowed {
  return typeof choice === "object" && choice.type === "allowed_tools";
}

// ---------------------------------------------------------------------------------------
// Text format and reasoning

export const TextFormatSchema = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("text") }),
  z.looseObject({ type: z.literal("json_object") }),
  z.looseObject({
    type: z.literal("json_schema"),
    name: z.string().min(1).max(64),
    schema: jsonSchemaObject({ code: "invalid_json_schema" }),
    description: z.string().nullish(),
    strict: z.boolean().nullish(),
  }),
]);
export type TextFormat = z.infer<typeof TextFormatSchema>;

export const TextConfigSchema = z.looseObject({
  format: TextFormatSchema.nullish(),
  /** Accepted and ignored: a local model has no verbosity switch. */
  verbosity: z.string().nullish(),
});

export const ReasoningConfigSchema = z.looseObject({
  effort: ReasoningEffortSchema.nullish(),
  /** Accepted; reasoning always comes back as one summary part holding the model's text. */
  summary: z.string().nullish(),
  generate_summary: z.string().nullish(),
});
export type ReasoningConfig = z.infer<typeof ReasoningConfigSchema>;

// ---------------------------------------------------------------------------------------
// The request

const ResponsesRequestObjectSchema = z.object({
  model: z.string().min(1),
  /** Optional in the public API (a continuation may only name `previous_response_id`). */
  input: z.union([z.string(), z.array(InputItemSchema)]).optional(),
  instructions: z.string().nullish(),
  tools: z.array(ToolSchema).nullish(),
  tool_choice: ToolChoiceSchema.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  max_output_tokens: z.int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  text: TextConfigSchema.nullish(),
  reasoning: ReasoningConfigSchema.nullish(),
  store: z.boolean().nullish(),
  include: z.array(z.string()).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  previous_response_id: z.string().min(1).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({}).nullish(),
  user: z.string().nullish(),
  truncation: z.enum(["auto", "disabled"]).nullish(),
  service_tier: z.string().nullish(),
  top_logprobs: z.int().min(0).max(20).nullish(),
  /** Limits built-in tool calls; there are none here, so any valid value is honoured. */
  max_tool_calls: z.int().positive().nullish(),
  prompt_cache_key: z.string().nullish(),
  safety_identifier: z.string().nullish(),
  /** cortex extension, as on chat completions: typed so it is honoured, not stripped. */
  speculative: SpeculativeModeSchema.nullish(),
  // Server-side features cortex does not have; typed only to be refused (`checkRequest`).
  background: z.boolean().nullish(),
  conversation: z.unknown().optional(),
  prompt: z.unknown().optional(),
});

type RequestShape = z.infer<typeof ResponsesRequestObjectSchema>;

/**
 * `POST /v1/responses`. Unknown top-level fields are stripped (ignored): clients send knobs
 * for OpenAI's own service that do not apply to a local model.
 */
export const ResponsesRequestSchema = ResponsesRequestObjectSchema.superRefine(checkRequest);
export type ResponsesRequest = z.infer<typeof ResponsesRequestSchema>;

function checkRequest(req: RequestShape, ctx: z.RefinementCtx): void {
  const refuse = (path: PropertyKey[], message: string) =>
    ctx.addIssue({ code: "custom", path, message });
  if (req.background) {
    refuse(["background"], "background responses are not supported by cortex");
  }
  if (req.conversation != null) {
    refuse(
      ["conversation"],
      "conversations are not supported by cortex; continue with previous_response_id",
    );
  }
  if (req.prompt != null) refuse(["prompt"], "stored prompt templates are not supported");
  // As on chat completions: 0 asks for nothing, more is refused rather than ignored.
  if (req.top_logprobs) {
    refuse(["top_logprobs"], "is not supported: cortex computes no log probabilities");
  }
  if (Array.isArray(req.input)) {
    req.input.forEach((item, i) => checkItem(item, ["input", i], refuse));
  }
  checkToolChoice(req, refuse);
}

type Refuse = (path: PropertyKey[], message: string) => void;

function checkItem(item: InputItem, path: PropertyKey[], refuse: Refuse): void {
  switch (item.type) {
    case "item_reference":
      refuse(
        path,
        "item_reference is not supported: cortex keeps no item store; send the item itself, " +
          "or continue with previous_response_id",
      );
      break;
    case "message":
      if (Array.isArray(item.content)) {
        item.content.forEach((part, j) =>
          checkContent(item.role, part, [...path, "content", j], refuse)
        );
      }
      break;
    case "function_call_output":
      if (Array.isArray(item.output)) {
        item.output.forEach((part, j) => {
          if (part.type === "input_file") refuse([...path, "output", j], FILE_REFUSAL);
        });
      }
      break;
  }
}

const FILE_REFUSAL = "input_file parts are not supported: the models behind cortex read text only";

function checkContent(
  role: MessageItem["role"],
  part: ContentPart,
  path: PropertyKey[],
  refuse: Refuse,
): void {
  if (part.type === "input_file") refuse(path, FILE_REFUSAL);
  else if (part.type === "input_image" && role !== "user") {
    refuse(path, `input_image parts are only allowed in user messages, not in ${role} ones`);
  } else if (part.type === "refusal" && role !== "assistant") {
    refuse(path, `refusal parts are only allowed in assistant messages, not in ${role} ones`);
  }
}

/**
 * `tool_choice` must be satisfiable with the function tools: a named function must exist,
 * `required` needs one, and a hosted-tool choice cannot be honoured (those tools are left
 * out), so it is refused rather than silently turned into something else.
 */
function checkToolChoice(req: RequestShape, refuse: Refuse): void {
  const choice = req.tool_choice;
  if (choice == null) return;
  const functions = (req.tools ?? []).filter(isFunctionTool).map((t) => t.name);
  const have = functions.length
    ? ` (function tools: ${functions.join(", ")})`
    : " (the request defines no function tools)";
  if (typeof choice === "string") {
    if (choice === "required" && functions.length === 0) {
      refuse(["tool_choice"], `"required" needs at least one function tool${have}`);
    }
    return;
  }
  if (isFunctionChoice(choice)) {
    const name = choice.name;
    if (!functions.includes(name)) {
      refuse(["tool_choice", "name"], `no function tool named ${JSON.stringify(name)}${have}`);
    }
    return;
  }
  if (isAllowedToolsChoice(choice)) {
    let named = 0;
    choice.tools.forEach((tool, i) => {
      if (tool.type !== "function") return;
      named++;
      if (!tool.name || !functions.includes(tool.name)) {
        refuse(
          ["tool_choice", "tools", i, "name"],
          `no function tool named ${JSON.stringify(tool.name ?? "")}${have}`,
        );
      }
    });
    if (choice.mode === "required" && named === 0) {
      refuse(["tool_choice", "tools"], `mode "required" needs at least one function tool`);
    }
    return;
  }
  refuse(
    ["tool_choice"],
    `choosing the hosted tool ${JSON.stringify(choice.type)} is not supported: ` +
      "only function tools run on cortex",
  );
}

/** Parses a `/v1/responses` body; throws a 400 `HttpError` naming the field (`input[0].role`). */
export function parseResponsesRequest(body: unknown): ResponsesRequest {
  const result = ResponsesRequestSchema.safeParse(body);
  if (!result.success) throw httpErrorFromZod(result.error, body, "bracket");
  return result.data;
}

/** The request's own input as items: a string input is one user message. */
export function inputItemsOf(req: Pick<ResponsesRequest, "input">): InputItem[] {
  if (req.input === undefined) return [];
  if (typeof req.input === "string") {
    return [{ type: "message", role: "user", content: req.input }];
  }
  return req.input;
}

/**
 * The path (`input[1].content[0]`, `input[3].output[0]`) of the first image in the input, or
 * null. Callers that serve text-only models refuse such requests naming this field.
 */
export function findImageInput(req: Pick<ResponsesRequest, "input">): string | null {
  if (!Array.isArray(req.input)) return null;
  for (let i = 0; i < req.input.length; i++) {
    const item = req.input[i];
    const parts = item.type === "message"
      ? item.content
      : item.type === "function_call_output"
      ? item.output
      : null;
    if (!Array.isArray(parts)) continue;
    const key = item.type === "message" ? "content" : "output";
    const j = parts.findIndex((p) => p.type === "input_image");
    if (j >= 0) return `input[${i}].${key}[${j}]`;
  }
  return null;
}
