/** Tool calls in model output: format detection, complete and streaming parsers, OpenAI shapes. */
export { type ToolFormat, ToolFormatSchema, type ToolLike } from "./format.ts";
export { detectToolFormat, type ToolFormatEvidence } from "./detect_format.ts";
export { XML_DIALECTS, type XmlDialect, xmlDialect, type XmlToolFormat } from "./xml_dialect.ts";
export { randomToolCallId, sequentialToolCallIds, type ToolCallIdGenerator } from "./ids.ts";
export {
  type ToolCallParserOptions,
  ToolCallStreamParser,
  type ToolStreamEvent,
  type ToolStreamFinish,
} from "./stream_parser.ts";
export { type ParsedToolCalls, parseToolCalls } from "./parse.ts";
export { ToolCallCollector, toOpenAIToolCallDelta } from "./collect.ts";
