/** JSON Schema → GBNF for llama.cpp's grammar sampler, and grammars that force tool calls. */
export { SchemaTooDeepError, UnsupportedSchemaError } from "./errors.ts";
export {
  checkJsonSchema,
  type CheckSchemaOptions,
  JSON_SCHEMA_TYPES,
  type SchemaProblem,
} from "./check_schema.ts";
export { jsonObjectGbnf, jsonSchemaToGbnf, type SchemaToGbnfOptions } from "./schema_to_gbnf.ts";
export { toolCallGbnf, type ToolCallGrammarOptions } from "./tool_call_grammar.ts";
