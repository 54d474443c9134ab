/**
 * Shapes engine deltas into what a chat completion carries: `content`,
 * `reasoning_content` and tool-call deltas. With `includeThinking`, the
 * reasoning is re-wrapped in the model's own markers inside `content`, as
 * one continuous stream (an unclosed block is closed at the end).
 */

import type { ToolCallDelta } from "../../core/openai/mod.ts";
import { toOpenAIToolCallDelta } from "../../core/tools/collect.ts";
import type { ToolStreamEvent } from "../../core/tools/stream_parser.ts";
import { ToolCallStreamParser } from "../../core/tools/stream_parser.ts";
import type { ToolFormat, ToolLike } from "../../core/tools/format.ts";
import type { Delta, MarkerPair } from "../engine/types.ts";

export interface Piece {
  content?: string;
  reasoning?: string;
  toolCalls?: ToolCallDelta[];
}

export interface ChatOutputOptions {
  includeThinking: boolean;
  markers: Pick<MarkerPair, "open" | "close"> | null;
  /** Parse tool calls out of the content in this format (null: no tools in play). */
  /** The request's tools: their names bound the calls, their schemas type XML arguments. */
  tools: { format: ToolFormat; tools: readonly ToolLike[] } | null;
}

export class ChatOutput {
  #opts: ChatOutputOptions;
  #parser: ToolCallStreamParser | null;
  #inThinking = false;
  calledTools = false;

  constructor(opts: ChatOutputOptions) {
    this.#opts = opts;
    this.#parser = opts.tools && opts.tools.format !== "none"
      ? new ToolCallStreamParser({
        format: opts.tools.format,
        tools: opts.tools.tools,
      })
      : null;
  }

  /** Generation started inside an open reasoning block (the prompt opened it). */
  startInReasoning(): Piece[] {
    return this.#opts.includeThinking && this.#opts.markers ? this.#enterThinking() : [];
  }

  push(deltas: Delta[]): Piece[] {
    const out: Piece[] = [];
    for (const d of deltas) {
      if (d.kind === "reasoning") {
        if (this.#opts.includeThinking && this.#opts.markers) {
          out.push(...this.#enterThinking(), { content: d.text });
        } else {
          out.push({ reasoning: d.text });
        }
      } else {
        out.push(...this.#leaveThinking());
        out.push(...this.#content(d.text));
      }
    }
    return out;
  }

  finish(): Piece[] {
    const out = this.#leaveThinking();
    if (this.#parser) {
      const f = this.#parser.finish();
      out.push(...this.#fromEvents(f.events));
      this.calledTools ||= f.calledTools;
    }
    return out;
  }

  #enterThinking(): Piece[] {
    if (this.#inThinking) return [];
    this.#inThinking = true;
    return [{ content: this.#opts.markers!.open }];
  }

  #leaveThinking(): Piece[] {
    if (!this.#inThinking) return [];
    this.#inThinking = false;
    return [{ content: this.#opts.markers!.close }];
  }

  #content(text: string): Piece[] {
    if (!this.#parser) return [{ content: text }];
    return this.#fromEvents(this.#parser.push(text));
  }

  #fromEvents(events: ToolStreamEvent[]): Piece[] {
    const out: Piece[] = [];
    for (const e of events) {
      if (e.type === "text") {
        if (e.text) out.push({ content: e.text });
        continue;
      }
      if (e.type === "tool_call_start") this.calledTools = true;
      const d = toOpenAIToolCallDelta(e);
      if (d) out.push({ toolCalls: [d] });
    }
    return out;
  }
}
