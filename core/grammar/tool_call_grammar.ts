/**
 * Grammars that force a tool call (tool_choice "required" or a named function), in the
 * format the model was trained on, with each tool's arguments constrained by its schema.
 *
 * Markers are written as text literals (`"<tool_call>"`, `"[TOOL_CALLS]"`). llama.cpp
 * (v0.4.0, src/llama-grammar.cpp) matches every candidate token by its piece from
 * `token_to_piece` with special = true, so a special/control token whose text is
 * `<tool_call>` matches the literal in one step, and so does the same text spelled with
 * ordinary tokens; only end-of-generation tokens are handled apart (allowed once the
 * grammar is complete). We do not use the `<token>` syntax: it fails to parse unless the
 * text is exactly one token of the vocabulary. For the parser to see such a marker, the
 * detokenizer must render special tokens (special = true) too.
 *
 * The grammar starts at the first generated token; a model that opens with reasoning
 * needs the grammar applied after the reasoning ends.
 */
import type { ToolFormat, ToolLike } from "../tools/format.ts";
import { pointerToken, UnsupportedSchemaError } from "./errors.ts";
import { GbnfBuilder, gbnfLiteral } from "./gbnf.ts";
import { primitive, PRIMITIVE_NAMES } from "./primitives.ts";
import { SchemaConverter } from "./schema_to_gbnf.ts";

export interface ToolCallGrammarOptions {
  /** Allow several calls in one answer (OpenAI's parallel_tool_calls, default true). */
  parallel?: boolean;
  /** Force this tool (tool_choice {"type": "function", "function": {"name"}}). */
  forcedName?: string;
}

const MISTRAL_NAME = /^[A-Za-z0-9_.\-]+$/;

/** A tool's parameters as an object schema (absent parameters: no arguments). */
function parametersSchema(tool: ToolLike, path: string): Record<string, unknown> {
  const p = tool.function.parameters;
  if (p === undefined || p === null) return { type: "object", properties: {} };
  const type = p.type;
  if (type === undefined) return { ...p, type: "object" };
  const types = Array.isArray(type) ? type : [type];
  if (!types.includes("object")) {
    throw new UnsupportedSchemaError("type", path, "tool parameters must describe an object");
  }
  return { ...p, type: "object" };
}

/**
 * GBNF that forces a call of the given tools in `format`. Throws `UnsupportedSchemaError`
 * (path under /tools/<i>/function/parameters) for a schema it cannot enforce, and Error for
 * an unusable request (no tools, unknown forced name, format "none").
 */
export function toolCallGbnf(
  tools: readonly ToolLike[],
  format: ToolFormat,
  opts: ToolCallGrammarOptions = {},
): string {
  if (format === "none") throw new Error("this model has no tool-call format to force");
  const chosen = tools
    .map((tool, index) => ({ tool, index }))
    .filter(({ tool }) => opts.forcedName === undefined || tool.function.name === opts.forcedName);
  if (!chosen.length) {
    throw new Error(
      opts.forcedName === undefined
        ? "no tools to call"
        : `tool_choice names "${opts.forcedName}", which is not among the request's tools`,
    );
  }
  const parallel = opts.parallel ?? true;
  const b = new GbnfBuilder(PRIMITIVE_NAMES);
  const space = primitive(b, "space");
  const argsKey = format === "llama3" ? "parameters" : "arguments";

  const perTool = chosen.map(({ tool, index }) => {
    const path = `/tools/${pointerToken(index)}/function/parameters`;
    const name = tool.function.name;
    let args: string;
    try {
      const schema = parametersSchema(tool, path);
      args = new SchemaConverter(b, schema, `tool-${index}-`).convertRoot(`tool-${index}-args`);
    } catch (e) {
      if (e instanceof UnsupportedSchemaError && !e.path.startsWith("/tools/")) throw e.under(path);
      throw e;
    }
    const members = `"\\"name\\"" ${space} ":" ${space} ${gbnfLiteral(JSON.stringify(name))} ` +
      `${space} "," ${space} ${gbnfLiteral(JSON.stringify(argsKey))} ${space} ":" ${space} ${args}`;
    // Mistral's list form may carry a 9-character call id after the arguments (Nemo does).
    const id = format === "mistral"
      ? ` (${space} "," ${space} "\\"id\\"" ${space} ":" ${space} "\\"" [a-zA-Z0-9]{9} "\\"")?`
      : "";
    const object = b.add(`tool-${index}-call`, `"{" ${space} ${members}${id} ${space} "}"`);
    return { name, args, object };
  });
  const anyObject = b.add("call-object", perTool.map((t) => t.object).join(" | "));

  let root: string;
  switch (format) {
    case "hermes": {
      const call = b.add(
        "call",
        `${gbnfLiteral("<tool_call>")} ${space} ${anyObject} ${space} ${
          gbnfLiteral("</tool_call>")
        }`,
      );
      root = parallel ? `${call} (${space} ${call})*` : call;
      break;
    }
    case "llama3":
      root = parallel ? `${anyObject} (";" ${space} ${anyObject})*` : anyObject;
      break;
    case "json":
      root = parallel
        ? `${anyObject} | "[" ${space} ${anyObject} (${space} "," ${space} ${anyObject})* ${space} "]"`
        : anyObject;
      break;
    case "mistral": {
      // Older models write a JSON list, newer ones name[ARGS]{…}; allow both and let the
      // model pick the one it was trained on.
      const list = parallel
        ? `"[" ${space} ${anyObject} (${space} "," ${space} ${anyObject})* ${space} "]"`
        : `"[" ${space} ${anyObject} ${space} "]"`;
      const named = perTool.filter((t) => MISTRAL_NAME.test(t.name));
      let alts = list;
      if (named.length) {
        const one = b.add(
          "named-call",
          named.map((t) =>
            `${gbnfLiteral(t.name)} ("[CALL_ID]" [a-zA-Z0-9]{9})? "[ARGS]" ${t.args}`
          )
            .join(" | "),
        );
        alts += parallel ? ` | ${one} (${gbnfLiteral("[TOOL_CALLS]")} ${one})*` : ` | ${one}`;
      }
      root = `${gbnfLiteral("[TOOL_CALLS]")} (${alts})`;
      break;
    }
  }
  b.add("root", root);
  return b.render("root");
}
