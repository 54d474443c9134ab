/**
 * Turns parser events into the OpenAI shapes: whole tool calls for a complete response,
 * `delta.tool_calls[i]` pieces for a stream.
 */
import type { ToolCall, ToolCallDelta } from "../openai/mod.ts";
import type { ToolStreamEvent } from "./stream_parser.ts";

/** The `delta.tool_calls[i]` entry for one event; undefined for text and call ends. */
export function toOpenAIToolCallDelta(event: ToolStreamEvent): ToolCallDelta | undefined {
  switch (event.type) {
    case "tool_call_start":
      return {
        index: event.index,
        id: event.id,
        type: "function",
        function: { name: event.name, arguments: "" },
      };
    case "tool_call_args":
      return { index: event.index, function: { arguments: event.delta } };
    default:
      return undefined;
  }
}

/** Accumulates events into content text and complete tool calls. */
export class ToolCallCollector {
  #content = "";
  #calls: ToolCall[] = [];

  add(events: Iterable<ToolStreamEvent>): void {
    for (const e of events) {
      switch (e.type) {
        case "text":
          this.#content += e.text;
          break;
        case "tool_call_start":
          this.#calls[e.index] = {
            id: e.id,
            type: "function",
            function: { name: e.name, arguments: "" },
          };
          break;
        case "tool_call_args":
          this.#calls[e.index].function.arguments += e.delta;
          break;
        case "tool_call_end":
          break;
      }
    }
  }

  get content(): string {
    return this.#content;
  }

  get toolCalls(): ToolCall[] {
    return this.#calls;
  }
}
