/**
 * OpenAI chat completion (the neuron's answer) → Anthropic message, and the pieces the
 * streaming translation shares with it: stop reasons, usage, ids.
 */
import { HttpError } from "../errors.ts";
import type { ChatCompletion, FinishReason } from "../openai/chat.ts";
import type { Usage } from "../openai/common.ts";
import type {
  AnthropicMessage,
  AnthropicUsage,
  DroppedTool,
  ResponseContentBlock,
  StopReason,
} from "./response.ts";

/**
 * The `signature` of every thinking block cortex emits. Anthropic signs its models' reasoning
 * so that it can verify it when sent back; a local model has nothing to verify, and cortex
 * ignores signatures on the way in. It is non-empty because clients (the SDK, Claude Code)
 * treat a thinking block as complete once it has a signature and send it back unchanged.
 */
export const THINKING_SIGNATURE = "cortex-local";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A random id in Anthropic's style: `prefix` + 24 base62 characters. */
export function randomId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  let out = prefix;
  for (const b of bytes) out += BASE62[b % 62];
  return out;
}

/** A message id derived from the upstream completion id (`chatcmpl-abc` → `msg_abc`). */
export function messageIdFrom(upstreamId: string): string {
  const core = upstreamId.replace(/^chatcmpl-/, "").replace(/[^A-Za-z0-9_-]/g, "");
  return core ? `msg_${core}` : randomId("msg_");
}

/**
 * A tool_use id from an upstream tool call id. Anthropic ids match `^[A-Za-z0-9_-]+$`, which
 * clients may check; the id comes back as `tool_use_id` and is sent upstream as given.
 */
export function toolUseId(upstreamId: string | null | undefined): string {
  const clean = (upstreamId ?? "").replace(/[^A-Za-z0-9_-]/g, "_");
  return clean || randomId("toolu_");
}

/**
 * Why generation stopped, in Anthropic's terms. `stopReason` is vLLM's field: a string is
 * the stop sequence that matched. A `stop` with tool calls is `tool_use` (some servers
 * report `stop` there).
 */
export function anthropicStopReason(
  finish: FinishReason | null | undefined,
  stopReason: string | number | null | undefined,
  sawToolUse: boolean,
): { stop_reason: StopReason; stop_sequence: string | null } {
  switch (finish) {
    case "length":
      return { stop_reason: "max_tokens", stop_sequence: null };
    case "tool_calls":
    case "function_call":
      return { stop_reason: "tool_use", stop_sequence: null };
    case "content_filter":
      return { stop_reason: "refusal", stop_sequence: null };
    default:
      if (typeof stopReason === "string") {
        return { stop_reason: "stop_sequence", stop_sequence: stopReason };
      }
      return { stop_reason: sawToolUse ? "tool_use" : "end_turn", stop_sequence: null };
  }
}

/**
 * OpenAI usage → Anthropic usage. Anthropic's `input_tokens` excludes cache reads (the total
 * prompt is their sum), so prompt tokens the neuron served from its KV cache are reported
 * as `cache_read_input_tokens`.
 */
export function anthropicUsage(usage: Usage | null | undefined): AnthropicUsage {
  if (!usage) {
    return {
      input_tokens: 0,
      output_tokens: 0,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    };
  }
  const cached = Math.min(usage.prompt_tokens_details?.cached_tokens ?? 0, usage.prompt_tokens);
  const out: AnthropicUsage = {
    input_tokens: usage.prompt_tokens - cached,
    output_tokens: usage.completion_tokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
  const thinking = usage.completion_tokens_details?.reasoning_tokens;
  if (thinking !== undefined) out.output_tokens_details = { thinking_tokens: thinking };
  return out;
}

/**
 * The tool input from a JSON arguments string. Models can emit invalid JSON; the raw string
 * is then passed on as the input, so that the client's input validation reports the
 * mistake to the model instead of cortex silently inventing `{}`.
 */
export function parseToolInput(args: string): unknown {
  if (args.trim() === "") return {};
  try {
    return JSON.parse(args);
  } catch {
    return args;
  }
}

export interface ToAnthropicOptions {
  /**
   * Whether the client asked for thinking (`thinkingEnabled`); default true. Without it,
   * reasoning a model produced anyway (it opened its own reasoning block) is left out, as
   * the Messages API sends no `thinking` blocks to a request that did not enable thinking.
   */
  thinking?: boolean;
  /** Server tools the translation left out, reported on the message (`anthropicToOpenAI`). */
  droppedTools?: readonly DroppedTool[];
}

/**
 * A non-streaming chat completion as an Anthropic message. `model` is the name the client
 * asked for (aliases stay aliases). Reasoning becomes a leading `thinking` block.
 */
export function openAIToAnthropic(
  resp: ChatCompletion,
  model: string,
  options: ToAnthropicOptions = {},
): AnthropicMessage {
  const choice = resp.choices.find((c) => c.index === 0) ?? resp.choices[0];
  if (!choice) throw new HttpError(502, "upstream returned a completion without choices");
  const { message } = choice;
  const content: ResponseContentBlock[] = [];
  if (message.reasoning_content && (options.thinking ?? true)) {
    content.push({
      type: "thinking",
      thinking: message.reasoning_content,
      signature: THINKING_SIGNATURE,
    });
  }
  if (message.content) content.push({ type: "text", text: message.content });
  const toolCalls = message.tool_calls ?? [];
  for (const call of toolCalls) {
    content.push({
      type: "tool_use",
      id: toolUseId(call.id),
      name: call.function.name,
      input: parseToolInput(call.function.arguments),
    });
  }
  const { stop_reason, stop_sequence } = anthropicStopReason(
    choice.finish_reason,
    choice.stop_reason,
    toolCalls.length > 0,
  );
  return {
    id: messageIdFrom(resp.id),
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason,
    stop_sequence,
    usage: anthropicUsage(resp.usage),
    ...droppedToolsField(options.droppedTools),
  };
}

/** `cortex_dropped_tools` when the request had server tools, else nothing. */
export function droppedToolsField(
  dropped: readonly DroppedTool[] | undefined,
): { cortex_dropped_tools?: DroppedTool[] } {
  return dropped?.length ? { cortex_dropped_tools: [...dropped] } : {};
}
