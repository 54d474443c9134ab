/** Tool calls out of a complete output: the streaming parser, fed everything at once. */
import { ToolCallCollector } from "./collect.ts";
import type { ToolCall } from "../openai/mod.ts";
import { type ToolCallParserOptions, ToolCallStreamParser } from "./stream_parser.ts";

export interface ParsedToolCalls {
  /** The text that is not a call (may be empty). */
  content: string;
  toolCalls: ToolCall[];
  /** Repairs and discarded text, in words, for logs. */
  issues: string[];
}

/**
 * Parses a complete generation. Same decisions as the stream parser (it is the stream
 * parser), so a streamed and a non-streamed response to the same output agree.
 */
export function parseToolCalls(text: string, opts: ToolCallParserOptions): ParsedToolCalls {
  const parser = new ToolCallStreamParser(opts);
  const collector = new ToolCallCollector();
  collector.add(parser.push(text));
  const end = parser.finish();
  collector.add(end.events);
  return { content: collector.content, toolCalls: collector.toolCalls, issues: end.issues };
}
