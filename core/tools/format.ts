/** Tool-call formats and the minimal view of a request's tools that the parsers need. */
import { z } from "zod";

/**
 * How a model writes tool calls:
 * - `hermes`: `<tool_call>{"name": …, "arguments": {…}}</tool_call>` (Qwen, Hermes, Granite, …)
 * - `llama3`: `{"name": …, "parameters": {…}}`, optionally after `<|python_tag|>` (Llama 3.x)
 * - `mistral`: `[TOOL_CALLS][{"name": …, "arguments": {…}}]` or `[TOOL_CALLS]name[ARGS]{…}`
 * - `json`: the whole output is a `{name, arguments}` object or an array of them
 * - `qwen_xml`: `<tool_call>\n<function=NAME>\n<parameter=KEY>\nVALUE\n</parameter>\n…</function>\n</tool_call>`
 *   (Qwen3-Coder, Qwen3.5, Nemotron 3, StepFun 3.5)
 * - `glm_xml`: `<tool_call>NAME\n<arg_key>KEY</arg_key>\n<arg_value>VALUE</arg_value>…</tool_call>`
 *   (GLM 4.5 and later, newlines optional)
 * - `minimax_xml`: `<minimax:tool_call>\n<invoke name="NAME">\n<parameter name="KEY">VALUE</parameter>\n…
 *   </invoke>\n</minimax:tool_call>` (MiniMax M2)
 * - `none`: the model has no known way to call tools
 *
 * In the XML formats a parameter value is raw text; the tool's JSON Schema says which JSON
 * type it becomes (see param_types.ts).
 */
export const ToolFormatSchema = z.enum([
  "hermes",
  "llama3",
  "mistral",
  "json",
  "qwen_xml",
  "glm_xml",
  "minimax_xml",
  "none",
]);
export type ToolFormat = z.infer<typeof ToolFormatSchema>;

/**
 * The part of an OpenAI function tool the tool code reads. Structural, so the request schema's
 * `FunctionTool` (core/openai) fits without a conversion.
 */
export interface ToolLike {
  function: {
    name: string;
    parameters?: Record<string, unknown> | null;
  };
}

/** The marker text each format's calls start with (text, as the detokenizer renders it). */
export const TOOL_MARKERS = {
  hermesOpen: "<tool_call>",
  hermesClose: "</tool_call>",
  pythonTag: "<|python_tag|>",
  mistralCalls: "[TOOL_CALLS]",
  mistralArgs: "[ARGS]",
  mistralCallId: "[CALL_ID]",
} as const;
