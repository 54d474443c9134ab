/**
 * Whether a JSON Schema a request carries is one at all, checked when the request is read
 * (before any grammar is built or template rendered): nested within `MAX_JSON_DEPTH`, every
 * subschema an object or a boolean, every `type` one of JSON Schema's seven. Keywords the
 * grammar cannot enforce are a different matter (valid schemas; `UnsupportedSchemaError`
 * when a grammar is needed). Unknown keywords are not looked into: JSON Schema gives them
 * no meaning.
 */
import { jsonDepth, MAX_JSON_DEPTH, tooDeepMessage } from "../json_depth.ts";
import { pointerToken } from "./errors.ts";
import { resolveLocalRef } from "./json_pointer.ts";

export const JSON_SCHEMA_TYPES = [
  "null",
  "boolean",
  "object",
  "array",
  "number",
  "integer",
  "string",
] as const;

/** Keywords whose value is one subschema (`items` may also be an array of them). */
const ONE = [
  "additionalProperties",
  "additionalItems",
  "items",
  "contains",
  "not",
  "if",
  "then",
  "else",
  "propertyNames",
  "unevaluatedProperties",
  "unevaluatedItems",
];
/** Keywords whose value maps names to subschemas. */
const MAP = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"];
/** Keywords whose value is a non-empty array of subschemas. */
const LIST = ["allOf", "anyOf", "oneOf", "prefixItems"];

export interface SchemaProblem {
  /** JSON Pointer to the schema object at fault ("" for the root). */
  pointer: string;
  message: string;
}

export interface CheckSchemaOptions {
  /** The root must describe an object (tool parameters): a `type` without "object" is refused. */
  object?: boolean;
  /** Deepest nesting of objects and arrays allowed (default `MAX_JSON_DEPTH`). */
  maxDepth?: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The first problem that makes `schema` no JSON Schema cortex can take, or null. */
export function checkJsonSchema(
  schema: unknown,
  opts: CheckSchemaOptions = {},
): SchemaProblem | null {
  const maxDepth = opts.maxDepth ?? MAX_JSON_DEPTH;
  if (jsonDepth(schema, maxDepth) > maxDepth) {
    return { pointer: "", message: tooDeepMessage(maxDepth) };
  }
  // Depth is bounded now; a plain work list keeps the walk flat all the same.
  const work: [unknown, string][] = [[schema, ""]];
  while (work.length) {
    const [s, ptr] = work.pop()!;
    const at = ptr === "" ? "" : ` at ${ptr}`;
    if (typeof s === "boolean") continue;
    if (!isObject(s)) {
      return {
        pointer: ptr,
        message: `a schema must be an object or a boolean, found ${
          Array.isArray(s) ? "an array" : s === null ? "null" : typeof s
        }${at}`,
      };
    }
    // A local reference must land in the document (the grammar builder would refuse it later,
    // unnamed); references elsewhere and anchors are left to whoever resolves them.
    if (typeof s.$ref === "string" && (s.$ref === "#" || s.$ref.startsWith("#/"))) {
      const r = resolveLocalRef(schema, s.$ref);
      if ("problem" in r) {
        return {
          pointer: ptr,
          message: `JSON Schema keyword "$ref" at ${ptr === "" ? "the root" : ptr}: ${r.problem}`,
        };
      }
    }
    if (s.type !== undefined) {
      const list = Array.isArray(s.type) ? s.type : [s.type];
      if (!list.length) return { pointer: ptr, message: `"type" is an empty list${at}` };
      for (const t of list) {
        if (!(JSON_SCHEMA_TYPES as readonly unknown[]).includes(t)) {
          return {
            pointer: ptr,
            message: `unknown type ${JSON.stringify(t)}${at} (JSON Schema types: ${
              JSON_SCHEMA_TYPES.join(", ")
            })`,
          };
        }
      }
    }
    for (const k of ONE) {
      if (!(k in s)) continue;
      const v = s[k];
      if (k === "items" && Array.isArray(v)) {
        v.forEach((x, i) => work.push([x, `${ptr}/items/${i}`]));
      } else work.push([v, `${ptr}/${k}`]);
    }
    for (const k of MAP) {
      if (!(k in s)) continue;
      const v = s[k];
      if (!isObject(v)) {
        return { pointer: ptr, message: `"${k}" must be an object of schemas${at}` };
      }
      for (const [name, x] of Object.entries(v)) {
        work.push([x, `${ptr}/${k}/${pointerToken(name)}`]);
      }
    }
    for (const k of LIST) {
      if (!(k in s)) continue;
      const v = s[k];
      if (!Array.isArray(v) || (k !== "prefixItems" && !v.length)) {
        return { pointer: ptr, message: `"${k}" must be a non-empty array of schemas${at}` };
      }
      v.forEach((x, i) => work.push([x, `${ptr}/${k}/${i}`]));
    }
    if (isObject(s.dependencies)) {
      // draft-07: each value is a schema or a list of property names.
      for (const [name, x] of Object.entries(s.dependencies)) {
        if (!Array.isArray(x)) work.push([x, `${ptr}/dependencies/${pointerToken(name)}`]);
      }
    }
  }
  if (opts.object && isObject(schema) && schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.includes("object")) {
      return {
        pointer: "",
        message: `must describe an object ("type": "object"), not ${JSON.stringify(schema.type)}`,
      };
    }
  }
  return null;
}
