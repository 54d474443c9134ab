/**
 * Anthropic Messages request → OpenAI chat completion request (the neuron's dialect).
 *
 * - The system prompt (`system`, then any `role: "system"` turns, in order) becomes one
 *   leading system message: most chat templates accept a system message only first.
 * - `tool_use` blocks become assistant `tool_calls` (arguments JSON-stringified);
 *   `tool_result` blocks become `role: "tool"` messages, in order, before the rest of the
 *   user turn (the API requires tool results to answer the preceding tool calls).
 * - `thinking` blocks of earlier turns are kept as the assistant's `reasoning_content`, which
 *   templates that interleave reasoning with tool calls render and others ignore.
 *   `redacted_thinking` carries no text and is dropped.
 * - Images become `image_url` parts, which the neuron refuses with a message naming them.
 */
import type { DroppedTool } from "./response.ts";
import type {
  AssistantMessage,
  ChatCompletionRequest,
  ChatMessage,
  ContentPart,
  FunctionTool,
  ToolCall,
  ToolChoice as OpenAIToolChoice,
} from "../openai/chat.ts";
import {
  type AssistantBlock,
  type CountTokensRequest,
  isCustomTool,
  type MessageParam,
  type MessagesRequest,
  type ThinkingConfig,
  type Tool,
  type ToolChoice,
  type UserBlock,
} from "./request.ts";

export interface TranslateOptions {
  /** The model's output limit; a larger `max_tokens` is clamped to it. */
  maxOutputTokens?: number;
}

export interface Translation {
  request: ChatCompletionRequest;
  /** Server tools (e.g. `web_search_20250305`) left out: only custom tools can run here. */
  droppedTools: DroppedTool[];
}

/** Translates a validated `/v1/messages` request into an OpenAI chat completion request. */
export function anthropicToOpenAI(
  req: MessagesRequest,
  options: TranslateOptions = {},
): Translation {
  const { prompt, droppedTools } = translatePrompt(req);
  const request: ChatCompletionRequest = { ...prompt };
  const max = options.maxOutputTokens;
  request.max_tokens = max !== undefined && max > 0
    ? Math.min(req.max_tokens, max)
    : req.max_tokens;
  if (req.temperature !== undefined) request.temperature = req.temperature;
  if (req.top_p !== undefined) request.top_p = req.top_p;
  if (req.top_k !== undefined) request.top_k = req.top_k;
  if (req.speculative !== undefined) request.speculative = req.speculative;
  if (req.thinking?.type === "enabled") {
    request.reasoning_budget_tokens = req.thinking.budget_tokens;
  }
  if (req.stop_sequences?.length) request.stop = [...req.stop_sequences];
  if (req.metadata?.user_id) request.user = req.metadata.user_id;
  if (req.stream) {
    request.stream = true;
    // Input tokens are only known from the final usage chunk; the Anthropic side needs them.
    request.stream_options = { include_usage: true };
  }
  return { request, droppedTools };
}

/**
 * Translates a `/v1/messages/count_tokens` request: the same prompt (system, messages,
 * tools, thinking switch) without generation fields, ready to be rendered and tokenized.
 */
export function countTokensRequestToOpenAI(req: CountTokensRequest): Translation {
  const { prompt, droppedTools } = translatePrompt(req);
  return { request: prompt, droppedTools };
}

function translatePrompt(req: CountTokensRequest): {
  prompt: ChatCompletionRequest;
  droppedTools: DroppedTool[];
} {
  const messages: ChatMessage[] = [];
  const system = systemPrompt(req.system, req.messages);
  if (system) messages.push({ role: "system", content: system });
  for (const message of req.messages) {
    if (message.role === "user") pushUserTurn(messages, message.content);
    else if (message.role === "assistant") messages.push(assistantTurn(message.content));
  }

  const prompt: ChatCompletionRequest = {
    model: req.model,
    messages,
    chat_template_kwargs: { enable_thinking: thinkingEnabled(req.thinking) },
  };

  const droppedTools: DroppedTool[] = [];
  const tools: FunctionTool[] = [];
  for (const tool of req.tools ?? []) {
    if (isCustomTool(tool)) tools.push(functionTool(tool));
    else droppedTools.push({ name: tool.name, type: String(tool.type) });
  }
  if (tools.length) {
    prompt.tools = tools;
    if (req.tool_choice) {
      prompt.tool_choice = toolChoice(req.tool_choice);
      if (
        "disable_parallel_tool_use" in req.tool_choice && req.tool_choice.disable_parallel_tool_use
      ) {
        prompt.parallel_tool_calls = false;
      }
    }
  }

  const effort = req.output_config?.effort;
  if (effort) prompt.reasoning_effort = effort;
  const format = req.output_config?.format;
  if (format) {
    prompt.response_format = {
      type: "json_schema",
      json_schema: { name: "output", schema: format.schema, strict: true },
    };
  }
  return { prompt, droppedTools };
}

/** `system`, then the text of each `role: "system"` turn, in order, as one prompt. */
function systemPrompt(system: CountTokensRequest["system"], messages: MessageParam[]): string {
  const parts: string[] = [];
  const add = (content: string | { text: string }[]) => {
    const text = typeof content === "string" ? content : content.map((b) => b.text).join("\n\n");
    if (text) parts.push(text);
  };
  if (system !== undefined) add(system);
  for (const m of messages) if (m.role === "system") add(m.content);
  return parts.join("\n\n");
}

/**
 * Whether the request turns thinking on (`enabled`, `adaptive`, `between_tools`). When it
 * does not, the answer carries no reasoning, even from a model that thinks regardless.
 */
export function thinkingEnabled(thinking: ThinkingConfig | undefined): boolean {
  return thinking !== undefined && thinking.type !== "disabled";
}

function pushUserTurn(out: ChatMessage[], content: string | UserBlock[]): void {
  if (typeof content === "string") {
    out.push({ role: "user", content });
    return;
  }
  const parts: ContentPart[] = [];
  for (const block of content) {
    if (block.type === "tool_result") {
      out.push({
        role: "tool",
        tool_call_id: block.tool_use_id,
        content: toolResultContent(block),
      });
    } else if (block.type === "text") {
      parts.push({ type: "text", text: block.text });
    } else {
      parts.push(imagePart(block.source));
    }
  }
  if (parts.length === 0) return;
  // A plain string when there is only text: every chat template understands that.
  out.push({
    role: "user",
    content: parts.every((p) => p.type === "text") ? parts.map((p) => p.text).join("\n\n") : parts,
  });
}

function toolResultContent(
  block: Extract<UserBlock, { type: "tool_result" }>,
): string | ContentPart[] {
  const prefix = block.is_error ? "Error: " : "";
  const content = block.content ?? "";
  if (typeof content === "string") return prefix + content;
  const parts: ContentPart[] = content.map((b) =>
    b.type === "text" ? { type: "text", text: b.text } : imagePart(b.source)
  );
  if (parts.every((p) => p.type === "text")) return prefix + parts.map((p) => p.text).join("\n\n");
  if (prefix) parts.unshift({ type: "text", text: prefix });
  return parts;
}

function imagePart(
  source: Extract<UserBlock, { type: "image" }>["source"],
): ContentPart {
  const url = source.type === "base64"
    ? `data:${source.media_type};base64,${source.data}`
    : source.type === "url"
    ? source.url
    : `anthropic-file:${source.file_id}`;
  return { type: "image_url", image_url: { url } };
}

function assistantTurn(content: string | AssistantBlock[]): AssistantMessage {
  if (typeof content === "string") return { role: "assistant", content };
  let text = "";
  const reasoning: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of content) {
    switch (block.type) {
      case "text":
        text += block.text;
        break;
      case "thinking":
        if (block.thinking) reasoning.push(block.thinking);
        break;
      case "tool_use":
        toolCalls.push({
          id: block.id,
          type: "function",
          function: { name: block.name, arguments: JSON.stringify(block.input) },
        });
        break;
      case "redacted_thinking":
        break;
    }
  }
  // `content: ""` rather than null: some chat templates cannot handle a null content.
  const message: AssistantMessage = { role: "assistant", content: text };
  if (reasoning.length) message.reasoning_content = reasoning.join("\n\n");
  if (toolCalls.length) message.tool_calls = toolCalls;
  return message;
}

function functionTool(tool: Tool): FunctionTool {
  const fn: FunctionTool["function"] = { name: tool.name };
  if (tool.description !== undefined) fn.description = tool.description;
  if (tool.input_schema !== undefined) fn.parameters = tool.input_schema;
  return { type: "function", function: fn };
}

function toolChoice(choice: ToolChoice): OpenAIToolChoice {
  switch (choice.type) {
    case "auto":
      return "auto";
    case "any":
      return "required";
    case "none":
      return "none";
    case "tool":
      return { type: "function", function: { name: choice.name } };
  }
}
