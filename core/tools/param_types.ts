/**
 * In the XML tool-call formats a parameter value is raw text. The tool's JSON Schema for
 * that parameter says which JSON value the text stands for, the way llama.cpp
 * (common/chat-peg-parser.cpp) and vLLM's Qwen3-Coder parser read it:
 *
 * - a parameter whose schema allows only strings is the text itself, verbatim;
 * - a parameter the schema does not declare (or a tool without a schema) is text too;
 * - otherwise the trimmed text is read as JSON (`3`, `true`, `null`, `{"a": 1}`, `"x"`), or
 *   as Python's `True` / `False` / `None` (Qwen's template writes scalars with Python's
 *   `str`), and the first reading the schema's types (or enum) allow wins; failing that, the
 *   text as a string if strings are allowed; failing that, the text as a string anyway, which
 *   the caller reports.
 *
 * The types are a superset of what the schema accepts (unions are merged, `allOf` is
 * intersected by type only): this module decides a value's JSON type, it does not validate.
 */
import type { ToolLike } from "./format.ts";

export type JsonType = "null" | "boolean" | "integer" | "number" | "string" | "object" | "array";

export interface ParamType {
  /** The JSON types the schema allows; undefined: any value. */
  types: ReadonlySet<JsonType> | undefined;
  /** The only values the schema allows (enum / const), when it lists them. */
  literals?: readonly unknown[];
}

/** A string and nothing else: the raw text is the value, so it can stream as it arrives. */
export const PLAIN_STRING: ParamType = { types: new Set(["string"]) };

const ALL_TYPES: readonly JsonType[] = [
  "null",
  "boolean",
  "integer",
  "number",
  "string",
  "object",
  "array",
];
const MAX_DEPTH = 32;

type Schema = Record<string, unknown>;

function isObject(v: unknown): v is Schema {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON text with sorted keys, for comparing values. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (isObject(v)) {
    return `{${
      Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJson(v[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(v);
}

export function jsonTypeOf(v: unknown): JsonType {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v as JsonType;
}

/** Is the value of a type the set allows (integers are numbers)? */
export function typeAllows(types: ReadonlySet<JsonType> | undefined, v: unknown): boolean {
  if (!types) return true;
  const t = jsonTypeOf(v);
  return types.has(t) || (t === "integer" && types.has("number"));
}

/** True when only strings are allowed and no enum lists them. */
export function isPlainString(t: ParamType): boolean {
  return t.literals === undefined && t.types !== undefined && t.types.size === 1 &&
    t.types.has("string");
}

/**
 * Follows `$ref`s (`#/…` pointers into `root`) at the top of a schema; sibling keywords of
 * a `$ref` are kept over the target's. Undefined for a reference that points nowhere.
 */
export function resolveRefs(schema: unknown, root: unknown): unknown {
  let s = schema;
  for (let depth = 0; isObject(s) && typeof s.$ref === "string"; depth++) {
    if (depth > MAX_DEPTH) return undefined;
    const { $ref, ...rest } = s;
    const target = pointAt(root, $ref as string);
    if (target === undefined) return undefined;
    s = isObject(target) ? { ...target, ...rest } : target;
  }
  return s;
}

function pointAt(root: unknown, ref: string): unknown {
  if (!ref.startsWith("#")) return undefined;
  let pointer: string;
  try {
    pointer = decodeURIComponent(ref.slice(1));
  } catch {
    return undefined;
  }
  if (pointer === "") return root;
  if (!pointer.startsWith("/")) return undefined;
  let at: unknown = root;
  for (const raw of pointer.slice(1).split("/")) {
    const token = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(at) && /^(0|[1-9][0-9]*)$/.test(token)) at = at[+token];
    else if (isObject(at) && Object.hasOwn(at, token)) at = at[token];
    else return undefined;
  }
  return at;
}

/** The JSON type(s) a parameter schema allows; `root` is the tool's parameters schema. */
export function paramType(schema: unknown, root: unknown, depth = 0): ParamType {
  const s = resolveRefs(schema, root);
  if (!isObject(s) || depth > MAX_DEPTH) return { types: undefined };
  const parts: ParamType[] = [];

  if ("const" in s || Array.isArray(s.enum)) {
    const literals = "const" in s ? [s.const] : s.enum as unknown[];
    parts.push({ types: new Set(literals.map(jsonTypeOf)), literals });
  }
  if ("type" in s) {
    const list = (Array.isArray(s.type) ? s.type : [s.type]).filter((t): t is JsonType =>
      ALL_TYPES.includes(t as JsonType)
    );
    const types = new Set(list);
    if (s.nullable === true) types.add("null");
    parts.push({ types });
  }
  for (const key of ["anyOf", "oneOf"] as const) {
    const alts = s[key];
    if (Array.isArray(alts) && alts.length) {
      parts.push(union(alts.map((a) => paramType(a, root, depth + 1))));
    }
  }
  if (Array.isArray(s.allOf)) {
    for (const m of s.allOf) parts.push(paramType(m, root, depth + 1));
  }
  return intersect(parts);
}

function union(parts: ParamType[]): ParamType {
  const out: ParamType = { types: new Set() };
  const types = out.types as Set<JsonType>;
  for (const p of parts) {
    if (!p.types) return { types: undefined };
    for (const t of p.types) types.add(t);
  }
  if (parts.every((p) => p.literals)) out.literals = parts.flatMap((p) => p.literals!);
  return out;
}

function intersect(parts: ParamType[]): ParamType {
  let types: ReadonlySet<JsonType> | undefined;
  let literals: unknown[] | undefined;
  for (const p of parts) {
    if (p.types) types = types ? intersectTypes(types, p.types) : p.types;
    if (p.literals) {
      const keep = new Set(p.literals.map(stableJson));
      literals = literals ? literals.filter((v) => keep.has(stableJson(v))) : [...p.literals];
    }
  }
  return literals ? { types, literals } : { types };
}

function intersectTypes(a: ReadonlySet<JsonType>, b: ReadonlySet<JsonType>): Set<JsonType> {
  const out = new Set<JsonType>();
  for (const t of a) {
    if (b.has(t)) out.add(t);
    else if ((t === "integer" && b.has("number")) || (t === "number" && b.has("integer"))) {
      out.add("integer");
    }
  }
  return out;
}

/** Parameter types of a request's tools, looked up by tool and parameter name. */
export class ToolParamTypes {
  readonly #params = new Map<string, unknown>();

  constructor(tools: readonly ToolLike[] | undefined) {
    for (const t of tools ?? []) this.#params.set(t.function.name, t.function.parameters);
  }

  /** The type of `key` in `tool`'s parameters: a plain string where nothing declares it. */
  of(tool: string, key: string): ParamType {
    const root = this.#params.get(tool);
    const params = resolveRefs(root, root);
    const props = isObject(params) ? params.properties : undefined;
    if (!isObject(props) || !Object.hasOwn(props, key)) return PLAIN_STRING;
    return paramType(props[key], root);
  }
}

export interface ConvertedValue {
  /** JSON text of the value. */
  json: string;
  /** Nothing the schema allows fits: this is the text as a string. */
  mismatch: boolean;
}

const PYTHON_LITERALS: Record<string, string> = { True: "true", False: "false", None: "null" };

/** The JSON value a parameter's raw text stands for (see the module comment). */
export function convertValue(text: string, t: ParamType): ConvertedValue {
  const trimmed = text.trim();
  const readings: { value: unknown; json: string }[] = [];
  try {
    readings.push({ value: JSON.parse(trimmed), json: trimmed });
  } catch {
    // not JSON: read as Python literal or text below
  }
  const py = PYTHON_LITERALS[trimmed];
  if (py !== undefined) readings.push({ value: JSON.parse(py), json: py });
  const strings = [text, trimmed].map((s) => ({ value: s, json: JSON.stringify(s) }));

  let outside = false;
  if (t.literals) {
    const allowed = new Set(t.literals.map(stableJson));
    const hit = [...readings, ...strings].find((r) => allowed.has(stableJson(r.value)));
    if (hit) return { json: hit.json, mismatch: false };
    outside = true;
  }
  const typed = readings.find((r) => typeAllows(t.types, r.value));
  if (typed) return { json: typed.json, mismatch: outside };
  return { json: strings[0].json, mismatch: outside || !typeAllows(t.types, text) };
}

/** Words for a type, for issues: `an integer or null`. */
export function describeType(t: ParamType): string {
  if (t.literals) return `one of ${t.literals.map((v) => JSON.stringify(v)).join(", ")}`;
  if (!t.types) return "any value";
  const words = [...t.types].map((x) =>
    x === "integer" || x === "object" || x === "array" ? `an ${x}` : `a ${x}`
  ).map((w) => w.replace("a null", "null"));
  return words.join(" or ");
}
