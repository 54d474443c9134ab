/**
 * Responses API request → OpenAI chat completion request (the neuron's dialect).
 *
 * - The conversation is the history of `previous_response_id` (its chain's input and output
 *   items, oldest first, from `historyFromChain`) followed by this request's `input`.
 * - `instructions`, then every `system` / `developer` message, in order, become one leading
 *   system message: most chat templates accept a system message only first. (As in the
 *   public API, an earlier response's `instructions` are not carried over.)
 * - Consecutive assistant-side items (`reasoning`, assistant `message`, `function_call`)
 *   form one assistant message: reasoning → `reasoning_content` (templates that interleave
 *   reasoning with tool calls render it, others ignore it), text → `content`, calls →
 *   `tool_calls`. Reasoning or text after a call starts a new assistant message.
 * - `function_call_output` → a `role: "tool"` message; its `call_id` must answer an earlier
 *   `function_call` (a 400 naming the field otherwise, as the public API does).
 * - Images become `image_url` parts, which the neuron refuses with a message naming them
 *   (callers can refuse earlier, naming the Responses field, with `findImageInput`).
 * - Function tools → chat tools; every other tool is left out and reported in
 *   `droppedTools`. `allowed_tools` narrows the tools offered.
 * - Thinking: `reasoning.effort` `low` and up (or a `reasoning.summary` request without an
 *   effort) turns it on (`chat_template_kwargs.enable_thinking`, and the effort passes on
 *   as `reasoning_effort`); `none`, `minimal` or no `reasoning` leaves it off. `minimal`
 *   means "as little as possible", which for the on/off switch of open-weight templates
 *   is off.
 */
import { HttpError } from "../errors.ts";
import type {
  AssistantMessage,
  ChatCompletionRequest,
  ChatMessage,
  ContentPart as ChatContentPart,
  FunctionTool as ChatFunctionTool,
  ResponseFormat,
  ToolChoice as ChatToolChoice,
} from "../openai/chat.ts";
import {
  type ContentPart,
  type FunctionTool,
  type InputItem,
  inputItemsOf,
  isAllowedToolsChoice,
  isFunctionChoice,
  isFunctionTool,
  type ReasoningConfig,
  type ResponsesRequest,
  type TextFormat,
  toolLabel,
  type ToolOutputPart,
} from "./request.ts";
import type { DroppedTool } from "./response.ts";

export interface TranslateOptions {
  /**
   * The items of the `previous_response_id` chain, oldest first (`historyFromChain`). The
   * gateway resolves the chain from its store; without it the request stands alone.
   */
  history?: readonly InputItem[];
  /** The model's output limit; a larger `max_output_tokens` is clamped to it. */
  maxOutputTokens?: number;
}

export interface Translation {
  request: ChatCompletionRequest;
  /** Tools left out of the prompt (every type but `function`): report, do not refuse. */
  droppedTools: DroppedTool[];
}

/** Translates a validated `/v1/responses` request into an OpenAI chat completion request. */
export function responsesToChat(
  req: ResponsesRequest,
  options: TranslateOptions = {},
): Translation {
  const request: ChatCompletionRequest = {
    model: req.model,
    messages: translateItems(req, options.history ?? []),
    chat_template_kwargs: { enable_thinking: thinkingEnabled(req.reasoning) },
  };
  if (request.chat_template_kwargs?.enable_thinking && req.reasoning?.effort) {
    request.reasoning_effort = req.reasoning.effort;
  }

  const droppedTools: DroppedTool[] = [];
  let tools: FunctionTool[] = [];
  for (const tool of req.tools ?? []) {
    if (isFunctionTool(tool)) tools.push(tool);
    else droppedTools.push({ type: tool.type, name: toolLabel(tool) });
  }
  let choice: ChatToolChoice | undefined;
  const rc = req.tool_choice;
  if (typeof rc === "string") choice = rc;
  else if (rc && isFunctionChoice(rc)) choice = { type: "function", function: { name: rc.name } };
  else if (rc && isAllowedToolsChoice(rc)) {
    const names = new Set(rc.tools.filter((t) => t.type === "function").map((t) => t.name));
    tools = tools.filter((t) => names.has(t.name));
    choice = rc.mode;
  }
  // Hosted-tool choices never get here: the request schema refuses them.
  if (tools.length) {
    request.tools = tools.map(chatTool);
    if (choice !== undefined) request.tool_choice = choice;
    if (req.parallel_tool_calls != null) request.parallel_tool_calls = req.parallel_tool_calls;
  }

  const format = responseFormat(req.text?.format);
  if (format) request.response_format = format;
  const max = options.maxOutputTokens;
  if (req.max_output_tokens != null) {
    request.max_tokens = max !== undefined && max > 0
      ? Math.min(req.max_output_tokens, max)
      : req.max_output_tokens;
  }
  if (req.temperature != null) request.temperature = req.temperature;
  if (req.top_p != null) request.top_p = req.top_p;
  if (req.speculative != null) request.speculative = req.speculative;
  if (req.user) request.user = req.user;
  if (req.stream) {
    request.stream = true;
    // Usage only arrives in the final chunk when asked for; the Response reports it.
    request.stream_options = { include_usage: true };
  }
  return { request, droppedTools };
}

/** Thinking is on for an effort of `low` and up, or a summary request without an effort. */
export function thinkingEnabled(reasoning: ReasoningConfig | null | undefined): boolean {
  if (!reasoning) return false;
  const effort = reasoning.effort;
  if (effort) return effort !== "none" && effort !== "minimal";
  return reasoning.summary != null || reasoning.generate_summary != null;
}

function chatTool(tool: FunctionTool): ChatFunctionTool {
  const fn: ChatFunctionTool["function"] = { name: tool.name };
  if (tool.description != null) fn.description = tool.description;
  if (tool.parameters != null) fn.parameters = tool.parameters;
  if (tool.strict != null) fn.strict = tool.strict;
  return { type: "function", function: fn };
}

function responseFormat(format: TextFormat | null | undefined): ResponseFormat | undefined {
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  const f = format as Extract<TextFormat, { type: "json_schema" }>;
  const json_schema: Extract<ResponseFormat, { type: "json_schema" }>["json_schema"] = {
    name: f.name,
    schema: f.schema,
  };
  if (f.description != null) json_schema.description = f.description;
  if (f.strict != null) json_schema.strict = f.strict;
  return { type: "json_schema", json_schema };
}

// ---------------------------------------------------------------------------------------
// Items → messages

/** An item and the request field it came from, for error messages. */
interface Located {
  item: InputItem;
  /** `input[3]`, `input` (a string input), or `previous_response_id` (history). */
  where: string;
}

function translateItems(req: ResponsesRequest, history: readonly InputItem[]): ChatMessage[] {
  const items: Located[] = history.map((item) => ({ item, where: "previous_response_id" }));
  const own = inputItemsOf(req);
  own.forEach((item, i) => {
    items.push({ item, where: typeof req.input === "string" ? "input" : `input[${i}]` });
  });
  if (own.length === 0 && history.length === 0) {
    throw new HttpError(400, "input: is required", {
      param: "input",
      code: "missing_required_parameter",
    });
  }

  const system: string[] = [];
  if (req.instructions) system.push(req.instructions);
  const turns = new Turns();
  const calls = new Set<string>();

  for (const { item, where } of items) {
    switch (item.type) {
      case "message": {
        if (item.role === "assistant") {
          // Text after a call (or after other text) is a new assistant message.
          if (turns.hasCallsOrText) turns.flush();
          turns.assistant().content = assistantText(item.content);
        } else if (item.role === "user") {
          turns.push({ role: "user", content: userContent(item.content) });
        } else {
          const text = plainText(item.content);
          if (text) system.push(text);
        }
        break;
      }
      case "reasoning": {
        if (turns.hasCallsOrText) turns.flush();
        turns.addReasoning(reasoningText(item));
        break;
      }
      case "function_call": {
        const turn = turns.assistant();
        turn.tool_calls = [...(turn.tool_calls ?? []), {
          id: item.call_id,
          type: "function",
          function: { name: item.name, arguments: item.arguments },
        }];
        calls.add(item.call_id);
        break;
      }
      case "function_call_output": {
        if (!calls.has(item.call_id)) {
          const param = `${where}.call_id`;
          throw new HttpError(
            400,
            `${param}: no function_call with call_id ${
              JSON.stringify(item.call_id)
            } precedes this output`,
            { param, code: "invalid_value" },
          );
        }
        turns.push({ role: "tool", tool_call_id: item.call_id, content: toolContent(item.output) });
        break;
      }
      case "item_reference":
        // The request schema refuses these, and history never holds one.
        throw new HttpError(400, `${where}: item_reference is not supported`, {
          param: where,
          code: "invalid_value",
        });
    }
  }
  turns.flush();
  const out = turns.messages;
  if (system.length) out.unshift({ role: "system", content: system.join("\n\n") });
  return out;
}

/** Collects messages, merging consecutive assistant-side items into one assistant message. */
class Turns {
  readonly messages: ChatMessage[] = [];
  #turn: AssistantMessage | null = null;
  #reasoning: string[] = [];

  get hasCallsOrText(): boolean {
    return Boolean(this.#turn && (this.#turn.tool_calls?.length || this.#turn.content));
  }

  /** The open assistant message, opened on first use. */
  assistant(): AssistantMessage {
    // `content: ""` rather than null: some chat templates cannot handle a null content.
    return this.#turn ??= { role: "assistant", content: "" };
  }

  addReasoning(text: string): void {
    this.assistant();
    if (text) this.#reasoning.push(text);
  }

  /** Closes the open assistant message, then appends `message`. */
  push(message: ChatMessage): void {
    this.flush();
    this.messages.push(message);
  }

  flush(): void {
    if (this.#turn) {
      if (this.#reasoning.length) this.#turn.reasoning_content = this.#reasoning.join("\n\n");
      this.messages.push(this.#turn);
    }
    this.#turn = null;
    this.#reasoning = [];
  }
}

function reasoningText(item: Extract<InputItem, { type: "reasoning" }>): string {
  const summary = item.summary.map((s) => s.text).filter(Boolean);
  if (summary.length) return summary.join("\n\n");
  return (item.content ?? []).map((c) => c.text).filter(Boolean).join("\n\n");
}

/** Text of a system/developer message: its text parts joined (images are refused there). */
function plainText(content: string | ContentPart[]): string {
  if (typeof content === "string") return content;
  return content.map(partText).filter((t) => t !== null).join("\n\n");
}

function partText(part: ContentPart | ToolOutputPart): string | null {
  switch (part.type) {
    case "input_text":
    case "output_text":
      return part.text;
    case "refusal":
      return part.refusal;
    default:
      return null;
  }
}

/** An assistant's text: its parts are pieces of one output, joined as they are. */
function assistantText(content: string | ContentPart[]): string {
  if (typeof content === "string") return content;
  return content.map((p) => partText(p) ?? "").join("");
}

/** User content: a plain string when there is only text, which every template understands. */
function userContent(content: string | ContentPart[]): string | ChatContentPart[] {
  if (typeof content === "string") return content;
  return chatParts(content);
}

function toolContent(output: string | ToolOutputPart[]): string | ChatContentPart[] {
  if (typeof output === "string") return output;
  return chatParts(output);
}

function chatParts(parts: readonly (ContentPart | ToolOutputPart)[]): string | ChatContentPart[] {
  const out: ChatContentPart[] = [];
  for (const part of parts) {
    if (part.type === "input_image") {
      const url = part.image_url ?? (part.file_id ? `openai-file:${part.file_id}` : "");
      const image_url: { url: string; detail?: string } = { url };
      if (part.detail) image_url.detail = part.detail;
      out.push({ type: "image_url", image_url });
    } else {
      const text = partText(part);
      if (text !== null) out.push({ type: "text", text });
    }
  }
  if (out.every((p) => p.type === "text")) {
    return out.map((p) => (p as { text: string }).text).join("\n\n");
  }
  return out;
}
