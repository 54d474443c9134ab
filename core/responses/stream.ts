/**
 * OpenAI chat completion chunks → Responses API streaming events.
 *
 * The event sequence is the one the Responses API sends, every event numbered by
 * `sequence_number` from 0:
 *
 *   response.created, response.in_progress
 *   per output item, in the order the model produced them:
 *     response.output_item.added
 *       reasoning:     reasoning_summary_part.added, reasoning_summary_text.delta*,
 *                      reasoning_summary_text.done, reasoning_summary_part.done
 *       message:       per part: content_part.added, output_text.delta* / refusal.delta*,
 *                      output_text.done / refusal.done, content_part.done
 *       function_call: function_call_arguments.delta*, function_call_arguments.done
 *     response.output_item.done
 *   response.completed | response.incomplete | response.failed   (always exactly one)
 *
 * One item is open at a time. Items carry `output_index`, parts `content_index`, deltas
 * `item_id`. The terminal event carries the whole Response (output and usage), so a client
 * that only reads it loses nothing. A `length` finish ends in `response.incomplete`
 * (`max_output_tokens`); an upstream failure, or a stream that ends without a
 * `finish_reason`, ends in `response.failed` with an `error` — never a silent close.
 */
import type { ChatCompletionChunk, FinishReason } from "../openai/chat.ts";
import type { Usage } from "../openai/common.ts";
import { encodeSseEvents } from "../sse.ts";
import { type ChunkItem, translateChatStream, upstreamOverloaded } from "../openai/chunk_stream.ts";
import {
  callIdFrom,
  finishedResponse,
  type IdSource,
  inProgressResponse,
  outcomeOf,
  randomId,
  type ResponseContext,
  responsesUsage,
} from "./from_chat.ts";
import type {
  ItemStatus,
  OutputContent,
  OutputItem,
  ResponseObject,
  ResponsesStreamEvent,
} from "./response.ts";

/** An event before it is numbered. */
type EventBody = ResponsesStreamEvent extends infer E
  ? E extends ResponsesStreamEvent ? Omit<E, "sequence_number"> : never
  : never;

interface ToolState {
  id: string | null;
  name: string;
  /** Arguments received before the name, sent once the item opens. */
  pending: string;
  /** The call's item, once open. */
  item: Extract<OutputItem, { type: "function_call" }> | null;
}

/** The open item and, for a message, its open part. */
type Open =
  | { kind: "reasoning"; index: number; item: Extract<OutputItem, { type: "reasoning" }> }
  | {
    kind: "message";
    index: number;
    item: Extract<OutputItem, { type: "message" }>;
    part: OutputContent | null;
  }
  | { kind: "call"; index: number; tool: number; item: ToolState["item"] & object };

/**
 * A state machine from OpenAI chunks to Responses events. Each method returns the events to
 * send now (possibly none). After the terminal event it is `ended`, returns none, and
 * `response` holds the final Response (for the store).
 */
export class ResponsesStreamTranslator {
  readonly #newId: IdSource;
  readonly #now: () => number;
  readonly #base: ResponseObject;
  #seq = 0;
  #started = false;
  #ended = false;
  readonly #output: OutputItem[] = [];
  #open: Open | null = null;
  readonly #tools = new Map<number, ToolState>();
  #finishReason: FinishReason | null = null;
  #usage: Usage | null = null;
  #final: ResponseObject | null = null;

  constructor(ctx: ResponseContext) {
    this.#newId = ctx.newId ?? randomId;
    this.#now = ctx.now ?? Date.now;
    this.#base = inProgressResponse({
      ...ctx,
      id: ctx.id ?? this.#newId("resp"),
      createdAt: Math.floor(this.#now() / 1000),
    });
  }

  /** The response id (`resp_…`), known from the start. */
  get id(): string {
    return this.#base.id;
  }

  /** True once the terminal event was produced. */
  get ended(): boolean {
    return this.#ended;
  }

  /** True once a `finish_reason` arrived: the output is complete, only usage may follow. */
  get complete(): boolean {
    return this.#finishReason !== null;
  }

  /** The Response of the terminal event; null until the stream ended. */
  get response(): ResponseObject | null {
    return this.#final;
  }

  /**
   * `response.created` and `response.in_progress`, once; callers may send them early (e.g.
   * before a cold load finishes).
   */
  start(): ResponsesStreamEvent[] {
    if (this.#started || this.#ended) return [];
    this.#started = true;
    const out: ResponsesStreamEvent[] = [];
    this.#emit(out, { type: "response.created", response: this.#snapshot() });
    this.#emit(out, { type: "response.in_progress", response: this.#snapshot() });
    return out;
  }

  /** The events for one upstream chunk. */
  push(chunk: ChatCompletionChunk): ResponsesStreamEvent[] {
    if (this.#ended) return [];
    const out = this.start();
    if (chunk.usage) this.#usage = chunk.usage;
    const choice = chunk.choices.find((c) => c.index === 0);
    if (!choice) return out;
    if (this.complete) {
      // Content after finish_reason has no item to go to: the upstream broke the protocol.
      const d = choice.delta;
      if (d.content || d.reasoning_content || d.refusal || d.tool_calls?.length) {
        return [...out, ...this.fail("upstream sent output after its finish_reason")];
      }
      return out;
    }
    const { delta } = choice;
    if (delta.reasoning_content) this.#reasoning(out, delta.reasoning_content);
    if (delta.content) this.#part(out, "output_text", delta.content);
    if (delta.refusal) this.#part(out, "refusal", delta.refusal);
    for (const call of delta.tool_calls ?? []) {
      const problem = this.#toolCall(
        out,
        call.index,
        call.id,
        call.function?.name,
        call.function?.arguments,
      );
      if (problem) return [...out, ...this.fail(problem)];
    }
    if (choice.finish_reason) {
      this.#finishReason = choice.finish_reason;
      const cut = outcomeOf(choice.finish_reason).status === "incomplete";
      this.#close(out, cut ? "incomplete" : "completed");
    }
    return out;
  }

  /**
   * Ends the stream: `response.completed` (or `response.incomplete`) with the whole
   * Response. Without a `finish_reason` the upstream answer is cut off: `response.failed`.
   */
  finish(): ResponsesStreamEvent[] {
    if (this.#ended) return [];
    if (!this.complete) {
      return this.fail("upstream stream ended before the response was complete");
    }
    for (const [index, tool] of this.#tools) {
      if (!tool.item) return this.fail(`upstream tool call ${index} never named its function`);
    }
    const out = this.start();
    this.#close(out, "completed");
    const outcome = outcomeOf(this.#finishReason);
    const response = finishedResponse(
      this.#base,
      structuredClone(this.#output),
      outcome,
      this.#usage,
      this.#now(),
    );
    this.#final = response;
    this.#ended = true;
    this.#emit(out, {
      type: outcome.status === "completed" ? "response.completed" : "response.incomplete",
      response,
    });
    return out;
  }

  /**
   * `response.failed` with an `error`; the stream ends after it. Items still open are
   * reported `incomplete` in its output, without further item events.
   */
  fail(message: string, code = "server_error"): ResponsesStreamEvent[] {
    if (this.#ended) return [];
    const out = this.start();
    if (this.#open) this.#open.item.status = "incomplete";
    this.#open = null;
    const response: ResponseObject = {
      ...this.#base,
      status: "failed",
      error: { code, message },
      output: structuredClone(this.#output),
      usage: this.#usage ? responsesUsage(this.#usage) : null,
    };
    this.#final = response;
    this.#ended = true;
    this.#emit(out, { type: "response.failed", response });
    return out;
  }

  #emit(out: ResponsesStreamEvent[], event: EventBody): void {
    out.push({ ...event, sequence_number: this.#seq++ } as ResponsesStreamEvent);
  }

  #snapshot(): ResponseObject {
    return { ...this.#base, output: structuredClone(this.#output) };
  }

  /** Opens `item` as the next output item. */
  #add(out: ResponsesStreamEvent[], item: OutputItem): number {
    this.#close(out, "completed");
    const index = this.#output.length;
    this.#output.push(item);
    this.#emit(out, {
      type: "response.output_item.added",
      output_index: index,
      item: structuredClone(item),
    });
    return index;
  }

  #reasoning(out: ResponsesStreamEvent[], text: string): void {
    let open = this.#open;
    if (open?.kind !== "reasoning") {
      const item: Extract<OutputItem, { type: "reasoning" }> = {
        type: "reasoning",
        id: this.#newId("rs"),
        summary: [],
        status: "in_progress",
      };
      const index = this.#add(out, item);
      item.summary.push({ type: "summary_text", text: "" });
      open = this.#open = { kind: "reasoning", index, item };
      this.#emit(out, {
        type: "response.reasoning_summary_part.added",
        item_id: item.id,
        output_index: index,
        summary_index: 0,
        part: { type: "summary_text", text: "" },
      });
    }
    open.item.summary[0].text += text;
    this.#emit(out, {
      type: "response.reasoning_summary_text.delta",
      item_id: open.item.id,
      output_index: open.index,
      summary_index: 0,
      delta: text,
    });
  }

  /** Text or refusal text, in the open message's part of that kind. */
  #part(out: ResponsesStreamEvent[], kind: OutputContent["type"], text: string): void {
    let open = this.#open;
    if (open?.kind !== "message") {
      const item: Extract<OutputItem, { type: "message" }> = {
        type: "message",
        id: this.#newId("msg"),
        status: "in_progress",
        role: "assistant",
        content: [],
      };
      const index = this.#add(out, item);
      open = this.#open = { kind: "message", index, item, part: null };
    }
    if (open.part?.type !== kind) {
      this.#closePart(out, open);
      const part: OutputContent = kind === "output_text"
        ? { type: "output_text", text: "", annotations: [] }
        : { type: "refusal", refusal: "" };
      open.item.content.push(part);
      open.part = part;
      this.#emit(out, {
        type: "response.content_part.added",
        item_id: open.item.id,
        output_index: open.index,
        content_index: open.item.content.length - 1,
        part: structuredClone(part),
      });
    }
    const ref = {
      item_id: open.item.id,
      output_index: open.index,
      content_index: open.item.content.length - 1,
    };
    const part = open.part!;
    if (part.type === "output_text") {
      part.text += text;
      this.#emit(out, { type: "response.output_text.delta", ...ref, delta: text, logprobs: [] });
    } else {
      part.refusal += text;
      this.#emit(out, { type: "response.refusal.delta", ...ref, delta: text });
    }
  }

  #closePart(out: ResponsesStreamEvent[], open: Extract<Open, { kind: "message" }>): void {
    const part = open.part;
    if (!part) return;
    const ref = {
      item_id: open.item.id,
      output_index: open.index,
      content_index: open.item.content.length - 1,
    };
    if (part.type === "output_text") {
      this.#emit(out, { type: "response.output_text.done", ...ref, text: part.text, logprobs: [] });
    } else {
      this.#emit(out, { type: "response.refusal.done", ...ref, refusal: part.refusal });
    }
    this.#emit(out, { type: "response.content_part.done", ...ref, part: structuredClone(part) });
    open.part = null;
  }

  /** Closes the open item with `status`. */
  #close(out: ResponsesStreamEvent[], status: ItemStatus): void {
    const open = this.#open;
    if (!open) return;
    this.#open = null;
    const { item, index } = open;
    switch (open.kind) {
      case "reasoning": {
        const part = open.item.summary[0];
        const ref = { item_id: item.id, output_index: index, summary_index: 0 };
        this.#emit(out, {
          type: "response.reasoning_summary_text.done",
          ...ref,
          text: part.text,
        });
        this.#emit(out, {
          type: "response.reasoning_summary_part.done",
          ...ref,
          part: structuredClone(part),
        });
        break;
      }
      case "message":
        this.#closePart(out, open);
        break;
      case "call":
        this.#emit(out, {
          type: "response.function_call_arguments.done",
          item_id: open.item.id,
          output_index: index,
          arguments: open.item.arguments,
        });
        break;
    }
    item.status = status;
    this.#emit(out, {
      type: "response.output_item.done",
      output_index: index,
      item: structuredClone(item),
    });
  }

  /** Returns a problem description when the upstream breaks the tool call protocol. */
  #toolCall(
    out: ResponsesStreamEvent[],
    index: number,
    id: string | null | undefined,
    name: string | null | undefined,
    args: string | null | undefined,
  ): string | null {
    let tool = this.#tools.get(index);
    if (!tool) {
      tool = { id: id ?? null, name: "", pending: "", item: null };
      this.#tools.set(index, tool);
    }
    if (!tool.item) {
      if (id && !tool.id) tool.id = id;
      if (name) tool.name += name;
      tool.pending += args ?? "";
      if (!tool.name) return null; // wait for the name before opening the item
      const item: Extract<OutputItem, { type: "function_call" }> = {
        type: "function_call",
        id: this.#newId("fc"),
        call_id: callIdFrom(tool.id, this.#newId),
        name: tool.name,
        arguments: "",
        status: "in_progress",
      };
      tool.item = item;
      const outputIndex = this.#add(out, item);
      this.#open = { kind: "call", index: outputIndex, tool: index, item };
      if (tool.pending) this.#arguments(out, tool.pending);
      tool.pending = "";
      return null;
    }
    if (!args) return null;
    const open = this.#open;
    if (open?.kind !== "call" || open.tool !== index) {
      // The item of this call is done: its arguments can no longer be delivered.
      return `upstream sent arguments for tool call ${index} after its item ended`;
    }
    this.#arguments(out, args);
    return null;
  }

  #arguments(out: ResponsesStreamEvent[], delta: string): void {
    const open = this.#open as Extract<Open, { kind: "call" }>;
    open.item.arguments += delta;
    this.#emit(out, {
      type: "response.function_call_arguments.delta",
      item_id: open.item.id,
      output_index: open.index,
      delta,
    });
  }
}

/** Events as SSE bytes (`event: <type>` + `data: <json>` each, as OpenAI sends them). */
export function encodeResponsesEvents(events: readonly ResponsesStreamEvent[]): Uint8Array {
  return encodeSseEvents(events);
}

/** The Response `error.code` for an error an upstream reported in its stream. */
function upstreamErrorCode(
  error: { type?: string | null; code?: string | number | null },
): string {
  return upstreamOverloaded(error) ? "rate_limit_exceeded" : "server_error";
}

/**
 * Pipes an upstream OpenAI SSE body through `translator` into a Responses SSE body. An
 * upstream that fails, sends an error, sends garbage or ends before its response is
 * complete yields `response.failed`, and the stream ends. A missing `[DONE]` after a
 * complete response is tolerated. Cancelling the result cancels the upstream.
 */
export function responsesSseFromOpenAI(
  upstream: ReadableStream<Uint8Array>,
  translator: ResponsesStreamTranslator,
): ReadableStream<Uint8Array> {
  const handle = (item: ChunkItem): ResponsesStreamEvent[] => {
    switch (item.kind) {
      case "chunk":
        return translator.push(item.chunk);
      case "done":
      case "eof":
        return translator.finish();
      case "failed":
        return item.upstream
          ? translator.fail(item.message, upstreamErrorCode(item.upstream))
          : translator.fail(item.message);
    }
  };
  return translateChatStream(upstream, handle, () => translator.ended, encodeResponsesEvents);
}
