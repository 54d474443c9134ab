/**
 * OpenAI chat completion chunks → Anthropic streaming events.
 *
 * The event sequence is the one the Messages API sends:
 *
 *   message_start
 *   (content_block_start, content_block_delta*, content_block_stop)*   one per block
 *   message_delta (stop_reason, stop_sequence, usage)
 *   message_stop
 *
 * with `ping` allowed anywhere and `error` ending the stream early. Blocks follow the order
 * the model produced them: reasoning → `thinking` (closed by a `signature_delta`), text →
 * `text`, each tool call → `tool_use` with its JSON arguments as `input_json_delta` pieces.
 * A delta is only ever sent inside an open block.
 *
 * Input tokens are only known from the final usage chunk (`stream_options.include_usage`),
 * so `message_start` reports what the caller knows (0 by default) and `message_delta` the
 * real counts; the public API allows cumulative counts there and the SDK takes them.
 */
import { encodeSseEvents } from "../sse.ts";
import { type ChunkItem, translateChatStream, upstreamOverloaded } from "../openai/chunk_stream.ts";
import type { ChatCompletionChunk, FinishReason } from "../openai/chat.ts";
import type { Usage } from "../openai/common.ts";
import {
  anthropicStopReason,
  anthropicUsage,
  droppedToolsField,
  randomId,
  THINKING_SIGNATURE,
  toolUseId,
} from "./from_openai.ts";
import type { AnthropicStreamEvent, DroppedTool, StreamErrorType } from "./response.ts";

export interface StreamTranslatorOptions {
  /** The model name the client asked for. */
  model: string;
  /** Defaults to a random `msg_…` id. */
  messageId?: string;
  /** Prompt tokens, when known before generation (reported in `message_start`). */
  inputTokens?: number;
  /** Whether the client asked for thinking; without it reasoning is left out (default true). */
  thinking?: boolean;
  /** Server tools the translation left out, reported in `message_start`. */
  droppedTools?: readonly DroppedTool[];
}

interface ToolState {
  id: string | null;
  name: string;
  /** Arguments received before the name, sent once the block opens. */
  pending: string;
  blockIndex: number | null;
}

type OpenBlock =
  | { kind: "thinking"; index: number }
  | { kind: "text"; index: number }
  | { kind: "tool"; index: number; tool: number };

/**
 * A state machine from OpenAI chunks to Anthropic events. Each method returns the events
 * to send now (possibly none). After `finish()` or `fail()` it is `ended` and returns none.
 */
export class AnthropicStreamTranslator {
  readonly #model: string;
  readonly #messageId: string;
  readonly #inputTokens: number;
  readonly #keepThinking: boolean;
  readonly #dropped: readonly DroppedTool[] | undefined;
  #started = false;
  #ended = false;
  #open: OpenBlock | null = null;
  #nextIndex = 0;
  readonly #tools = new Map<number, ToolState>();
  #sawToolUse = false;
  #finishReason: FinishReason | null = null;
  #stopReason: string | number | null = null;
  #usage: Usage | null = null;

  constructor(options: StreamTranslatorOptions) {
    this.#model = options.model;
    this.#messageId = options.messageId ?? randomId("msg_");
    this.#inputTokens = options.inputTokens ?? 0;
    this.#keepThinking = options.thinking ?? true;
    this.#dropped = options.droppedTools;
  }

  /** True once the stream has a `message_stop` or an `error`. */
  get ended(): boolean {
    return this.#ended;
  }

  /** True once a `finish_reason` arrived: the content is complete, only usage may follow. */
  get complete(): boolean {
    return this.#finishReason !== null;
  }

  /** `message_start`, once; callers may send it early (e.g. before a cold load finishes). */
  start(): AnthropicStreamEvent[] {
    if (this.#started || this.#ended) return [];
    this.#started = true;
    return [{
      type: "message_start",
      message: {
        id: this.#messageId,
        type: "message",
        role: "assistant",
        model: this.#model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: this.#inputTokens, output_tokens: 0 },
        ...droppedToolsField(this.#dropped),
      },
    }];
  }

  /** A keep-alive event; clients ignore it. */
  ping(): AnthropicStreamEvent[] {
    return this.#ended ? [] : [{ type: "ping" }];
  }

  /** The events for one upstream chunk. */
  push(chunk: ChatCompletionChunk): AnthropicStreamEvent[] {
    if (this.#ended) return [];
    const out = this.start();
    if (chunk.usage) this.#usage = chunk.usage;
    const choice = chunk.choices.find((c) => c.index === 0);
    if (!choice) return out;
    const { delta } = choice;
    if (delta.reasoning_content && this.#keepThinking) {
      this.#thinking(out, delta.reasoning_content);
    }
    if (delta.content) this.#text(out, delta.content);
    for (const call of delta.tool_calls ?? []) {
      const problem = this.#toolCall(
        out,
        call.index,
        call.id,
        call.function?.name,
        call.function?.arguments,
      );
      if (problem) return [...out, ...this.fail("api_error", problem)];
    }
    if (choice.finish_reason) {
      this.#finishReason = choice.finish_reason;
      this.#stopReason = choice.stop_reason ?? null;
      this.#close(out);
    }
    return out;
  }

  /** Closes the open block and ends the message (`message_delta`, `message_stop`). */
  finish(): AnthropicStreamEvent[] {
    if (this.#ended) return [];
    const out = this.start();
    for (const [index, tool] of this.#tools) {
      if (tool.blockIndex === null) {
        return [
          ...out,
          ...this.fail("api_error", `upstream tool call ${index} never named its function`),
        ];
      }
    }
    this.#close(out);
    const { stop_reason, stop_sequence } = anthropicStopReason(
      this.#finishReason,
      this.#stopReason,
      this.#sawToolUse,
    );
    const usage = anthropicUsage(this.#usage);
    out.push(
      {
        type: "message_delta",
        delta: { stop_reason, stop_sequence },
        usage: this.#usage ? usage : { output_tokens: 0 },
      },
      { type: "message_stop" },
    );
    this.#ended = true;
    return out;
  }

  /** An `error` event; the stream ends after it (no `message_stop`). */
  fail(type: StreamErrorType, message: string): AnthropicStreamEvent[] {
    if (this.#ended) return [];
    this.#ended = true;
    return [{ type: "error", error: { type, message } }];
  }

  #openBlock(
    out: AnthropicStreamEvent[],
    block: OpenBlock["kind"],
    tool?: ToolState,
    toolIndex = 0,
  ) {
    this.#close(out);
    const index = this.#nextIndex++;
    if (block === "thinking") {
      this.#open = { kind: "thinking", index };
      out.push({
        type: "content_block_start",
        index,
        content_block: { type: "thinking", thinking: "", signature: "" },
      });
    } else if (block === "text") {
      this.#open = { kind: "text", index };
      out.push({ type: "content_block_start", index, content_block: { type: "text", text: "" } });
    } else {
      this.#open = { kind: "tool", index, tool: toolIndex };
      const state = tool!;
      state.blockIndex = index;
      this.#sawToolUse = true;
      out.push({
        type: "content_block_start",
        index,
        content_block: { type: "tool_use", id: toolUseId(state.id), name: state.name, input: {} },
      });
    }
  }

  #close(out: AnthropicStreamEvent[]) {
    const open = this.#open;
    if (!open) return;
    if (open.kind === "thinking") {
      out.push({
        type: "content_block_delta",
        index: open.index,
        delta: { type: "signature_delta", signature: THINKING_SIGNATURE },
      });
    }
    out.push({ type: "content_block_stop", index: open.index });
    this.#open = null;
  }

  #thinking(out: AnthropicStreamEvent[], text: string) {
    if (this.#open?.kind !== "thinking") this.#openBlock(out, "thinking");
    out.push({
      type: "content_block_delta",
      index: this.#open!.index,
      delta: { type: "thinking_delta", thinking: text },
    });
  }

  #text(out: AnthropicStreamEvent[], text: string) {
    if (this.#open?.kind !== "text") this.#openBlock(out, "text");
    out.push({
      type: "content_block_delta",
      index: this.#open!.index,
      delta: { type: "text_delta", text },
    });
  }

  /** Returns a problem description when the upstream breaks the tool call protocol. */
  #toolCall(
    out: AnthropicStreamEvent[],
    index: number,
    id: string | null | undefined,
    name: string | null | undefined,
    args: string | null | undefined,
  ): string | null {
    let tool = this.#tools.get(index);
    if (!tool) {
      tool = { id: id ?? null, name: "", pending: "", blockIndex: null };
      this.#tools.set(index, tool);
    }
    if (tool.blockIndex === null) {
      if (id && !tool.id) tool.id = id;
      if (name) tool.name += name;
      tool.pending += args ?? "";
      if (!tool.name) return null; // wait for the name before opening the block
      this.#openBlock(out, "tool", tool, index);
      if (tool.pending) this.#json(out, tool.pending);
      tool.pending = "";
      return null;
    }
    if (!args) return null;
    const open = this.#open;
    if (open?.kind !== "tool" || open.tool !== index) {
      // The block of this call is closed: its arguments can no longer be delivered.
      return `upstream sent arguments for tool call ${index} after its block ended`;
    }
    this.#json(out, args);
    return null;
  }

  #json(out: AnthropicStreamEvent[], partial: string) {
    out.push({
      type: "content_block_delta",
      index: this.#open!.index,
      delta: { type: "input_json_delta", partial_json: partial },
    });
  }
}

/** Events as SSE bytes (`event: <type>` + `data: <json>` each), in one buffer. */
export function encodeAnthropicEvents(events: readonly AnthropicStreamEvent[]): Uint8Array {
  return encodeSseEvents(events);
}

/** The Anthropic error type for an error an upstream reported in its stream. */
function upstreamErrorType(
  error: { type?: string | null; code?: string | number | null },
): StreamErrorType {
  return upstreamOverloaded(error) ? "overloaded_error" : "api_error";
}

/**
 * Pipes an upstream OpenAI SSE body through `translator` into an Anthropic SSE body. An
 * upstream that fails, sends an error, sends garbage or ends before its response is
 * complete yields an `error` event, and the stream ends. Cancelling the result cancels the
 * upstream.
 */
export function anthropicSseFromOpenAI(
  upstream: ReadableStream<Uint8Array>,
  translator: AnthropicStreamTranslator,
): ReadableStream<Uint8Array> {
  const handle = (item: ChunkItem): AnthropicStreamEvent[] => {
    switch (item.kind) {
      case "chunk":
        return translator.push(item.chunk);
      case "done":
        return translator.finish();
      case "eof":
        // A missing `[DONE]` after a complete response is tolerated; a cut-off response is not.
        return translator.complete
          ? translator.finish()
          : translator.fail("api_error", "upstream stream ended before the response was complete");
      case "failed":
        return translator.fail(
          item.upstream ? upstreamErrorType(item.upstream) : "api_error",
          item.message,
        );
    }
  };
  return translateChatStream(upstream, handle, () => translator.ended, encodeAnthropicEvents);
}
