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
 *
 * XML formats (qwen_xml, glm_xml, minimax_xml) write each parameter as raw text between
 * tags, in the layout their chat templates render, and the grammar keeps every value to a
 * text the parser (core/tools/xml_call.ts) reads back as a value the schema accepts:
 * - a string parameter is the text itself: any text without the value's closing tag
 *   (`</parameter>`), or `format` / `minLength` / `maxLength` text (bounded strings without
 *   `<`); `pattern` is refused, since regex.ts writes JSON-escaped text;
 * - an enum / const is one of its values (strings as text, others as JSON);
 * - anything else is JSON from the schema converter, with `<` inside JSON strings written
 *   as `\u003c`, so no closing tag can appear inside a value;
 * - parameters come in the order `properties` lists them, required ones always.
 */
import type { ToolFormat, ToolLike } from "../tools/format.ts";
import { isPlainString, paramType, resolveRefs } from "../tools/param_types.ts";
import { isWritableKey, isWritableName } from "../tools/xml_call.ts";
import { type XmlDialect, xmlDialect } from "../tools/xml_dialect.ts";
import { pointerToken, UnsupportedSchemaError } from "./errors.ts";
import {
  alternatives,
  type CodeRange,
  GbnfBuilder,
  gbnfLiteral,
  group,
  RepetitionLimitError,
  ruleName,
} from "./gbnf.ts";
import {
  charClassExcept,
  primitive,
  PRIMITIVE_NAMES,
  rawCharClass,
  STRING_FORMATS,
} from "./primitives.ts";
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
  const xml = xmlDialect(format);
  if (xml) return xmlCallsGbnf(chosen, xml, parallel);
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
    default:
      throw new Error(`no call grammar for the ${format} format`);
  }
  b.add("root", root);
  return b.render("root");
}

// --- XML formats ----------------------------------------------------------------------------

type Schema = Record<string, unknown>;

function isObject(v: unknown): v is Schema {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Keywords that change nothing about which documents are valid. */
const ANNOTATIONS = new Set([
  "title",
  "description",
  "examples",
  "example",
  "default",
  "$schema",
  "$id",
  "$comment",
  "deprecated",
  "readOnly",
  "writeOnly",
]);

/** What a tool's parameters schema may say when calls are written one parameter at a time. */
const XML_PARAMS_KEYWORDS = new Set([
  "type",
  "properties",
  "required",
  "additionalProperties",
  "$defs",
  "definitions",
]);

/** What a raw-text string parameter may say. */
// (`nullable` is not true here: a nullable string is written as JSON.)
const RAW_STRING_KEYWORDS = new Set(["type", "nullable", "minLength", "maxLength", "format"]);

/** Code points a raw value may hold: tab, newline, carriage return, and printable text. */
const TEXT_CHARS: CodeRange[] = [
  [0x09, 0x0a],
  [0x0d, 0x0d],
  [0x20, 0x7e],
  [0x80, 0xd7ff],
  [0xe000, 0x10ffff],
];

function textClass(except: readonly number[]): string {
  return charClassExcept(TEXT_CHARS, except);
}

/** Which state of matching `closer` (KMP) follows state `k` on character `c`. */
function closerStep(closer: string, k: number, c: string): number {
  const s = closer.slice(0, k) + c;
  for (let j = Math.min(s.length, closer.length); j > 0; j--) {
    if (s.endsWith(closer.slice(0, j))) return j;
  }
  return 0;
}

/**
 * Rules for text that never contains `closer`: one per state of the automaton that tracks
 * how much of `closer` the text ends with. `end` may finish the text in any state; `other`
 * makes the class of other characters (minus the given code points); `extra` are further
 * alternatives back to state 0.
 */
function closerFreeRules(
  b: GbnfBuilder,
  closer: string,
  base: string,
  end: string,
  other: (except: number[]) => string,
  extra: string[] = [],
): string {
  const names = Array.from(closer, (_, k) => `${base}-${k}`);
  if (b.has(names[0])) return names[0];
  const chars = [...new Set(closer)];
  for (let k = 0; k < closer.length; k++) {
    const alts = [end];
    const special: number[] = [];
    for (const c of chars) {
      const j = closerStep(closer, k, c);
      if (j === 0) continue;
      special.push(c.codePointAt(0)!);
      if (j < closer.length) alts.push(`${gbnfLiteral(c)} ${names[j]}`);
    }
    alts.push(`${other(special)} ${names[0]}`, ...extra.map((e) => `${e} ${names[0]}`));
    b.addExact(names[k], alternatives(alts));
  }
  return names[0];
}

/** Any raw text that does not contain `closer` (so the first `closer` after it ends it). */
function textWithout(b: GbnfBuilder, closer: string): string {
  return closerFreeRules(b, closer, `raw-text-${ruleName(closer)}`, "", textClass);
}

/**
 * The shared JSON `string` rule, made to never contain `closer` in its text; every JSON
 * string the schema converter writes without a length bound uses it.
 */
function jsonStringWithout(b: GbnfBuilder, closer: string): void {
  const escape = `"\\\\" (["\\\\/bfnrt] | "u" unicode-escape)`;
  primitive(b, "unicode-escape");
  const body = closerFreeRules(
    b,
    closer,
    `json-text-${ruleName(closer)}`,
    '"\\""',
    (except) => rawCharClass(except),
    [`(${escape})`],
  );
  b.addExact("string", `"\\"" ${body}`);
}

/** The tags around one parameter, with its value in between. */
function xmlParam(d: XmlDialect, key: string, value: string): string {
  const v = value ? ` ${group(value)} ` : " ";
  switch (d.format) {
    case "qwen_xml":
      return `${gbnfLiteral(`<parameter=${key}>\n`)}${v}${gbnfLiteral("\n</parameter>\n")}`;
    case "glm_xml":
      return `${gbnfLiteral(`<arg_key>${key}</arg_key>`)} "\\n"? "<arg_value>"${v}` +
        `"</arg_value>" "\\n"?`;
    case "minimax_xml":
      return `${gbnfLiteral(`<parameter name="${key}">`)}${v}${gbnfLiteral("</parameter>\n")}`;
  }
}

/** One call: the tool's name, its parameters, the tags around them. */
function xmlCall(b: GbnfBuilder, tool: ToolLike, index: number, d: XmlDialect): string {
  const base = `/tools/${pointerToken(index)}/function`;
  const path = `${base}/parameters`;
  const name = tool.function.name;
  if (!isWritableName(name)) {
    throw new UnsupportedSchemaError(
      "name",
      base,
      `the tool name ${JSON.stringify(name)} cannot be written in the ${d.format} format`,
    );
  }
  const schema = parametersSchema(tool, path);
  for (const k of Object.keys(schema)) {
    if (!XML_PARAMS_KEYWORDS.has(k) && !ANNOTATIONS.has(k)) {
      throw new UnsupportedSchemaError(
        k,
        path,
        `not supported for the parameters of a ${d.format} call, which are written one at a time`,
      );
    }
  }
  const props = schema.properties ?? {};
  if (!isObject(props)) throw new UnsupportedSchemaError("properties", path, "must be an object");
  const required = schema.required ?? [];
  if (!Array.isArray(required) || required.some((r) => typeof r !== "string")) {
    throw new UnsupportedSchemaError("required", path, "must be an array of names");
  }
  const keys = [...Object.keys(props), ...required.filter((r) => !Object.hasOwn(props, r))];
  const parts = keys.map((key) => {
    if (!isWritableKey(key, d)) {
      throw new UnsupportedSchemaError(
        "properties",
        path,
        `the parameter name ${JSON.stringify(key)} cannot be written in the ${d.format} format`,
      );
    }
    const hint = `tool-${index}-${key}`;
    const value = Object.hasOwn(props, key)
      ? xmlValue(b, props[key], schema, `${path}/properties/${pointerToken(key)}`, hint, d)
      : textWithout(b, d.valueClose); // undeclared: the parser keeps it as a string
    const param = b.add(`${hint}-param`, xmlParam(d, key, value));
    return required.includes(key) ? param : `${param}?`;
  });
  const params = parts.length ? ` ${parts.join(" ")} ` : " ";
  let body: string;
  switch (d.format) {
    case "qwen_xml":
      body = `${gbnfLiteral(`<function=${name}>\n`)}${params}${gbnfLiteral("</function>\n")}`;
      break;
    case "glm_xml":
      body = `${gbnfLiteral(name)} "\\n"?${params.trimEnd()}`;
      break;
    case "minimax_xml":
      body = `${gbnfLiteral(`<invoke name="${name}">\n`)}${params}${gbnfLiteral("</invoke>\n")}`;
      break;
  }
  return b.add(`tool-${index}-call`, body);
}

/** A parameter's value, as raw text the parser reads back into a value the schema accepts. */
function xmlValue(
  b: GbnfBuilder,
  schema: unknown,
  root: Schema,
  path: string,
  hint: string,
  d: XmlDialect,
): string {
  const type = paramType(schema, root);
  const s = resolveRefs(schema, root);
  if (isObject(s) && ("enum" in s || "const" in s)) {
    const others = Object.keys(s).filter((k) =>
      !ANNOTATIONS.has(k) && !["enum", "const", "type", "nullable"].includes(k)
    );
    if (!others.length) return rawLiterals(s, path, type.types);
  }
  if (isPlainString(type)) return rawString(b, s, path, hint, d);
  return jsonValue(b, schema, root, path, hint);
}

/** Each listed value the declared types allow: strings as their text, others as JSON. */
function rawLiterals(s: Schema, path: string, types: ReadonlySet<string> | undefined): string {
  const keyword = "const" in s ? "const" : "enum";
  const values = "const" in s ? [s.const] : s.enum;
  if (!Array.isArray(values)) throw new UnsupportedSchemaError("enum", path, "must be an array");
  const allowed = values.filter((v) => {
    if (!types) return true;
    const t = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
    if (t === "number") return types.has("number") || (Number.isInteger(v) && types.has("integer"));
    return types.has(t);
  });
  if (!allowed.length) {
    throw new UnsupportedSchemaError(keyword, path, "no listed value has an allowed type");
  }
  return alternatives(
    allowed.map((v) => gbnfLiteral(typeof v === "string" ? v : JSON.stringify(v)) || '""'),
  );
}

function rawString(
  b: GbnfBuilder,
  s: unknown,
  path: string,
  hint: string,
  d: XmlDialect,
): string {
  const schema = isObject(s) ? s : {};
  for (const k of Object.keys(schema)) {
    if (ANNOTATIONS.has(k) || RAW_STRING_KEYWORDS.has(k)) continue;
    throw new UnsupportedSchemaError(
      k,
      path,
      `a string parameter of a ${d.format} call is written as raw text; only minLength, ` +
        "maxLength and format can be enforced on it",
    );
  }
  const count = (key: string): number | undefined => {
    const v = schema[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw new UnsupportedSchemaError(key, path, "must be a non-negative integer");
    }
    return v;
  };
  const min = count("minLength");
  const max = count("maxLength");
  if (schema.format !== undefined) {
    const f = schema.format;
    if (typeof f !== "string" || !STRING_FORMATS.has(f)) {
      throw new UnsupportedSchemaError(
        "format",
        path,
        `format ${JSON.stringify(f)} is not supported (supported: ${
          [...STRING_FORMATS].join(", ")
        })`,
      );
    }
    if (min !== undefined || max !== undefined) {
      throw new UnsupportedSchemaError(
        min !== undefined ? "minLength" : "maxLength",
        path,
        `cannot be combined with "format"`,
      );
    }
    return primitive(b, f); // the formats' characters never include `<`
  }
  if (min === undefined && max === undefined) return textWithout(b, d.valueClose);
  if (max !== undefined && max < (min ?? 0)) {
    throw new UnsupportedSchemaError("maxLength", path, "is smaller than minLength");
  }
  try {
    // Counted text leaves out `<`, so no closing tag can form inside it.
    const char = b.add("raw-char", textClass([0x3c]));
    return b.repeat(char, min ?? 0, max ?? Infinity, `${hint}-char`);
  } catch (e) {
    if (e instanceof RepetitionLimitError) {
      throw new UnsupportedSchemaError("maxLength", path, e.message);
    }
    throw e;
  }
}

/** The value as JSON; `$ref`s may point into the tool's `$defs` / `definitions`. */
function jsonValue(
  b: GbnfBuilder,
  schema: unknown,
  root: Schema,
  path: string,
  hint: string,
): string {
  checkRefs(schema, path);
  let doc = schema;
  if (isObject(schema)) {
    const withDefs: Schema = { ...schema };
    for (const k of ["$defs", "definitions"]) {
      if (root[k] !== undefined && !(k in withDefs)) withDefs[k] = root[k];
    }
    doc = withDefs;
  }
  try {
    return new SchemaConverter(b, doc, `${hint}-`).convertRoot(`${hint}-value`);
  } catch (e) {
    if (e instanceof UnsupportedSchemaError && !e.path.startsWith("/tools/")) throw e.under(path);
    throw e;
  }
}

/** Inside a parameter only references into `$defs` / `definitions` mean the same thing. */
function checkRefs(schema: unknown, path: string): void {
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!isObject(v)) return;
    const ref = v.$ref;
    if (
      typeof ref === "string" && !ref.startsWith("#/$defs/") && !ref.startsWith("#/definitions/")
    ) {
      throw new UnsupportedSchemaError(
        "$ref",
        path,
        `only references into $defs or definitions are supported inside a parameter: ${ref}`,
      );
    }
    Object.values(v).forEach(visit);
  };
  visit(schema);
}

/** GBNF forcing calls in an XML format; the text starts with the block's opening tag. */
function xmlCallsGbnf(
  chosen: { tool: ToolLike; index: number }[],
  d: XmlDialect,
  parallel: boolean,
): string {
  const b = new GbnfBuilder(PRIMITIVE_NAMES);
  // Before anything asks for the shared `string` rule: JSON strings in values never hold
  // the closing tag.
  jsonStringWithout(b, d.valueClose);
  const space = primitive(b, "space");
  const call = b.add(
    "call",
    chosen.map(({ tool, index }) => xmlCall(b, tool, index, d)).join(" | "),
  );
  let root: string;
  switch (d.format) {
    case "qwen_xml":
    case "glm_xml": {
      const open = d.format === "qwen_xml" ? `${d.open}\n` : d.open;
      const block = b.add("block", `${gbnfLiteral(open)} ${call} ${gbnfLiteral(d.close)}`);
      root = parallel ? `${block} (${space} ${block})*` : block;
      break;
    }
    case "minimax_xml":
      root = `${gbnfLiteral(`${d.open}\n`)} ${parallel ? `${call}+` : call} ${
        gbnfLiteral(d.close)
      }`;
      break;
  }
  b.add("root", root);
  return b.render("root");
}
