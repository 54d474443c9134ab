/**
 * Ollama API requests (`/api/chat`, `/api/generate`, `/api/embed`, `/api/embeddings`) →
 * OpenAI requests, the neuron's dialect.
 *
 * What maps is honoured; what cannot is refused with a 400 naming it, never ignored:
 * images (the neuron serves text models), `raw` / `template` / `suffix` / `context` on
 * generate, and options with no engine equivalent. `format` goes through `response_format`
 * (so the same grammar path), `think` through `chat_template_kwargs.enable_thinking` and
 * `reasoning_effort`. `tool_choice` and `options.speculative` are accepted as cortex
 * extensions (Ollama has neither).
 */
import { z } from "zod";
import { parseDuration } from "../config/duration.ts";
import { HttpError, httpErrorFromZod } from "../errors.ts";
import { checkJsonSchema } from "../grammar/check_schema.ts";
import { SpeculativeModeSchema } from "../neuron/speculative.ts";
import type {
  ChatCompletionRequest,
  ChatMessage,
  FunctionTool,
  ToolChoice,
} from "../openai/chat.ts";

const ToolCallSchema = z.looseObject({
  id: z.string().optional(),
  function: z.looseObject({
    name: z.string(),
    arguments: z.union([z.record(z.string(), z.unknown()), z.string()]).optional(),
  }),
});

const MessageSchema = z.looseObject({
  role: z.enum(["system", "user", "assistant", "tool"]),
  content: z.string().default(""),
  thinking: z.string().optional(),
  images: z.array(z.string()).nullish(),
  tool_calls: z.array(ToolCallSchema).nullish(),
  tool_name: z.string().optional(),
});

const OptionsSchema = z.strictObject({
  temperature: z.number().min(0).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.int().min(0).optional(),
  min_p: z.number().min(0).max(1).optional(),
  seed: z.int().optional(),
  // Ollama: -1 generates until done, -2 until the context fills; other negatives mean nothing.
  num_predict: z.int().min(
    -2,
    "must be a token count, -1 (until done) or -2 (until the context fills)",
  )
    .optional(),
  stop: z.array(z.string()).optional(),
  repeat_penalty: z.number().optional(),
  presence_penalty: z.number().optional(),
  frequency_penalty: z.number().optional(),
  num_ctx: z.int().positive().optional(),
  /** cortex extension (Ollama has none): how this request drafts tokens, as on /v1. */
  speculative: SpeculativeModeSchema.optional(),
});
export type OllamaOptions = z.infer<typeof OptionsSchema>;

/** Embeddings generate nothing: drafting is refused there rather than ignored. */
const EmbedOptionsSchema = OptionsSchema.omit({ speculative: true });

const Common = {
  model: z.string().min(1),
  stream: z.boolean().optional(),
  // Checked here, not only by the neuron, so that a bad schema is named `format`.
  format: z.union([z.literal("json"), z.literal(""), z.record(z.string(), z.unknown())])
    .optional().superRefine((f, ctx) => {
      if (typeof f !== "object") return;
      const problem = checkJsonSchema(f);
      if (problem) ctx.addIssue({ code: "custom", message: problem.message });
    }),
  think: z.union([z.boolean(), z.enum(["low", "medium", "high"])]).optional(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
  options: OptionsSchema.optional(),
  // The extension is a generation option: said here rather than ignored at the top level.
  speculative: z.unknown().optional().refine(
    (v) => v === undefined,
    "goes in options (options.speculative)",
  ),
};

export const ChatRequestSchema = z.looseObject({
  ...Common,
  messages: z.array(MessageSchema).default([]),
  tools: z.array(z.looseObject({ type: z.literal("function"), function: z.looseObject({}) }))
    .optional(),
  tool_choice: z.unknown().optional(),
});
export type OllamaChatRequest = z.infer<typeof ChatRequestSchema>;

export const GenerateRequestSchema = z.looseObject({
  ...Common,
  prompt: z.string().default(""),
  system: z.string().optional(),
  images: z.array(z.string()).nullish(),
  raw: z.boolean().optional(),
  template: z.string().optional(),
  suffix: z.string().optional(),
  context: z.array(z.number()).optional(),
});
export type OllamaGenerateRequest = z.infer<typeof GenerateRequestSchema>;

export const EmbedRequestSchema = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(z.string())]),
  truncate: z.boolean().optional(),
  dimensions: z.int().positive().optional(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
  options: EmbedOptionsSchema.optional(),
});
export type OllamaEmbedRequest = z.infer<typeof EmbedRequestSchema>;

/** The older `/api/embeddings`: one `prompt`, one `embedding` back. */
export const EmbeddingsRequestSchema = z.looseObject({
  model: z.string().min(1),
  prompt: z.string(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
  options: EmbedOptionsSchema.optional(),
});

/** Parses a body against an Ollama request schema: a 400 naming the field on failure. */
export function parseOllama<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  if (!r.success) throw httpErrorFromZod(r.error, body, "dotted");
  return r.data;
}

/**
 * `keep_alive` → how long the model stays loaded once idle, in ms: `0` unloads it after the
 * request, a negative value never (Infinity), a duration (`"5m"`, `"1h30m"`, or a number of
 * seconds) sets that model's idle unload in place of `[eviction] idle_ttl`; absent leaves the
 * gateway's own policy (undefined).
 */
export function parseKeepAlive(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const negative = typeof v === "number" ? v < 0 : v.trim().startsWith("-");
  try {
    if (!negative) return parseDuration(v);
    parseDuration(typeof v === "number" ? -v : v.trim().slice(1));
    return Infinity;
  } catch (e) {
    throw new HttpError(
      400,
      `keep_alive ${JSON.stringify(v)} is not a duration (${(e as Error).message}): send one ` +
        'like "5m" or "1h30m", a number of seconds, 0 to unload after the request, or a ' +
        "negative value to keep the model loaded",
      { param: "keep_alive", code: "invalid_value" },
    );
  }
}

export interface TranslateOptions {
  /** The context each request gets (as loaded, or what a load would give); null when unknown. */
  contextLength: number | null;
}

/** `/api/chat` → a chat completion request. */
export function ollamaChatToOpenAI(
  req: OllamaChatRequest,
  options: TranslateOptions,
): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  let callSeq = 0;
  const pendingIds: { name: string; id: string }[] = [];
  req.messages.forEach((m, i) => {
    if (m.images?.length) refuseImages(`messages.${i}.images`);
    switch (m.role) {
      case "system":
      case "user":
        messages.push({ role: m.role, content: m.content });
        break;
      case "assistant": {
        const calls = (m.tool_calls ?? []).map((c) => {
          const id = c.id ?? `call_${callSeq++}`;
          pendingIds.push({ name: c.function.name, id });
          const args = c.function.arguments ?? {};
          return {
            id,
            type: "function" as const,
            function: {
              name: c.function.name,
              arguments: typeof args === "string" ? args : JSON.stringify(args),
            },
          };
        });
        messages.push({
          role: "assistant",
          content: m.content,
          ...(m.thinking ? { reasoning_content: m.thinking } : {}),
          ...(calls.length ? { tool_calls: calls } : {}),
        });
        break;
      }
      case "tool": {
        // Ollama names the tool, not the call: answer the oldest open call of that name.
        const at = pendingIds.findIndex((p) => !m.tool_name || p.name === m.tool_name);
        const id = at >= 0 ? pendingIds.splice(at, 1)[0].id : `call_${callSeq++}`;
        messages.push({ role: "tool", tool_call_id: id, content: m.content });
        break;
      }
    }
  });
  if (!messages.length) {
    throw new HttpError(400, "messages: at least one message is required", {
      param: "messages",
      code: "missing_required_parameter",
    });
  }
  const out: ChatCompletionRequest = { model: req.model, messages };
  if (req.tools?.length) out.tools = req.tools as FunctionTool[];
  if (req.tool_choice !== undefined) out.tool_choice = req.tool_choice as ToolChoice;
  applyCommon(out, req, options);
  return out;
}

/** `/api/generate` → a chat completion request (system + one user turn, templated by the neuron). */
export function ollamaGenerateToOpenAI(
  req: OllamaGenerateRequest,
  options: TranslateOptions,
): ChatCompletionRequest {
  if (req.images?.length) refuseImages("images");
  for (const field of ["raw", "template", "suffix", "context"] as const) {
    const v = req[field];
    if (v === undefined || v === false || v === "" || (Array.isArray(v) && !v.length)) continue;
    throw new HttpError(
      400,
      `${field} is not supported: cortex renders the model's own chat template ` +
        "(use /v1/completions for raw prompts)",
      { param: field, code: "unsupported_parameter" },
    );
  }
  const messages: ChatMessage[] = [];
  if (req.system) messages.push({ role: "system", content: req.system });
  messages.push({ role: "user", content: req.prompt });
  const out: ChatCompletionRequest = { model: req.model, messages };
  applyCommon(out, req, options);
  return out;
}

function refuseImages(param: string): never {
  throw new HttpError(
    400,
    `${param}: images are not supported: the models cortex serves here take text only`,
    { param, code: "unsupported_content" },
  );
}

function applyCommon(
  out: ChatCompletionRequest,
  req: OllamaChatRequest | OllamaGenerateRequest,
  { contextLength }: TranslateOptions,
): void {
  if (req.stream ?? true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  if (req.format === "json") out.response_format = { type: "json_object" };
  else if (req.format && typeof req.format === "object") {
    out.response_format = {
      type: "json_schema",
      json_schema: { name: "format", schema: req.format, strict: true },
    };
  }
  if (req.think !== undefined) {
    out.chat_template_kwargs = { enable_thinking: req.think !== false };
    if (typeof req.think === "string") out.reasoning_effort = req.think;
  }
  const o = req.options ?? {};
  if (o.num_ctx !== undefined && contextLength !== null && o.num_ctx > contextLength) {
    throw new HttpError(
      400,
      `options.num_ctx ${o.num_ctx} is larger than the context in force for ${req.model} ` +
        `(${contextLength} tokens); the neuron's load settings decide it`,
      { param: "options.num_ctx", code: "invalid_value" },
    );
  }
  const body = out as Record<string, unknown>;
  for (
    const k of [
      "temperature",
      "top_p",
      "top_k",
      "min_p",
      "seed",
      "repeat_penalty",
      "presence_penalty",
      "frequency_penalty",
      "speculative",
    ] as const
  ) {
    if (o[k] !== undefined) body[k] = o[k];
  }
  // Ollama: -1 generates until done, -2 until the context fills; both leave the limit open.
  if (o.num_predict !== undefined && o.num_predict > 0) out.max_tokens = o.num_predict;
  if (o.stop?.length) out.stop = o.stop;
}
