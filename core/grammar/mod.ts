/** JSON Schema → GBNF for llama.cpp's grammar sampler, and grammars that force tool calls. */
export { UnsupportedSchemaError } from "./errors.ts";
export { jsonObjectGbnf, jsonSchemaToGbnf, type SchemaToGbnfOptions } from "./schema_to_gbnf.ts";
export { toolCallGbnf, type ToolCallGrammarOptions } from "./tool_call_grammar.ts";
