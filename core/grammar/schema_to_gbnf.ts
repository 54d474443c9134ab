/**
 * JSON Schema → GBNF for llama.cpp's grammar sampler.
 *
 * The grammar accepts only documents the schema accepts. Where the schema allows more than
 * a grammar should generate, we generate a subset, on purpose:
 * - objects carry no properties beyond `properties` unless `additionalProperties` is true
 *   or a schema (as llama.cpp's converter does: faster, fewer invented keys);
 * - properties come in the order `properties` lists them; optional ones may be left out;
 * - tuples (`prefixItems`, or `items` as an array) carry no further items unless `items` /
 *   `additionalItems` says which, or `minItems` requires them;
 * - numbers with bounds are written without exponent; formats `email` and `uri` produce a
 *   common subset of their valid values;
 * - whitespace between tokens is capped (see SPACE_RULE).
 *
 * Keywords that change validity and that we cannot enforce raise `UnsupportedSchemaError`
 * (keyword + JSON Pointer) instead of being skipped. Annotations are ignored, and so are
 * unknown keywords, which JSON Schema defines to have no effect.
 */
import { MAX_JSON_DEPTH } from "../json_depth.ts";
import { resolveLocalRef } from "./json_pointer.ts";
import { pointerToken, SchemaTooDeepError, UnsupportedSchemaError } from "./errors.ts";
import { GbnfBuilder, gbnfCharClass, gbnfLiteral, RepetitionLimitError } from "./gbnf.ts";
import { type Bound, integerRange, numberRange } from "./ranges.ts";
import { PatternError, patternToGbnf } from "./regex.ts";
import { primitive, PRIMITIVE_NAMES, rawCharClass, STRING_FORMATS } from "./primitives.ts";

type Schema = Record<string, unknown>;

const TYPES = ["null", "boolean", "object", "array", "number", "integer", "string"] as const;
type TypeName = typeof TYPES[number];

/** Keywords with no effect on validity. */
const ANNOTATIONS = new Set([
  "title",
  "description",
  "examples",
  "example",
  "default",
  "$schema",
  "$id",
  "$comment",
  "$defs",
  "definitions",
  "$anchor",
  "$dynamicAnchor",
  "$recursiveAnchor",
  "$vocabulary",
  "deprecated",
  "readOnly",
  "writeOnly",
  "contentMediaType",
  "contentEncoding",
  "contentSchema",
  "discriminator",
  "externalDocs",
  "xml",
]);

/** Keywords we never enforce, wherever they appear. */
const REFUSED = new Set(["not", "if", "$dynamicRef", "$recursiveRef"]);

const OBJECT_KEYWORDS = [
  "properties",
  "required",
  "additionalProperties",
  "patternProperties",
  "propertyNames",
  "minProperties",
  "maxProperties",
  "dependentRequired",
  "dependentSchemas",
  "dependencies",
  "unevaluatedProperties",
];
const ARRAY_KEYWORDS = [
  "items",
  "prefixItems",
  "additionalItems",
  "minItems",
  "maxItems",
  "uniqueItems",
  "contains",
  "minContains",
  "maxContains",
  "unevaluatedItems",
];
const STRING_KEYWORDS = ["minLength", "maxLength", "pattern"];
const NUMBER_KEYWORDS = [
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
];
const NUMERIC_FORMATS = new Set(["int32", "int64", "float", "double"]);

export interface SchemaToGbnfOptions {
  /** Name of the rule that matches the whole document (default "root"). */
  rootName?: string;
}

function isObject(v: unknown): v is Schema {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON text with sorted keys, for comparing values. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(",")}]`;
  if (isObject(v)) {
    return `{${
      Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable(v[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(v);
}

function typeOfValue(v: unknown): TypeName {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v as TypeName;
}

function valueHasType(v: unknown, t: TypeName): boolean {
  const actual = typeOfValue(v);
  return actual === t || (t === "number" && actual === "integer");
}

/** Does the schema have keywords other than annotations and those listed? */
function validationKeys(s: Schema, except: readonly string[] = []): string[] {
  return Object.keys(s).filter((k) => !ANNOTATIONS.has(k) && !except.includes(k));
}

/**
 * Converts schemas of one document into rules of a builder. One converter per document,
 * so `$ref`s resolve against the right root; `prefix` keeps rule names of documents apart.
 */
export class SchemaConverter {
  readonly #refNames = new Map<string, string>();
  /** refs being converted with no character consumed since they started (left recursion) */
  #head = new Set<string>();
  /** Schemas being converted, one inside the other: bounded so the stack never overflows. */
  #depth = 0;

  constructor(
    private readonly b: GbnfBuilder,
    private readonly doc: unknown,
    private readonly prefix = "",
  ) {}

  /** Converts the whole document into a rule named `name` (recursive "#" refs point at it). */
  convertRoot(name: string): string {
    const rule = this.b.reserve(name);
    this.#refNames.set("", rule);
    this.#head.add("");
    const expr = this.#visit(this.doc, "", rule);
    this.#head.delete("");
    this.b.define(rule, expr);
    return rule;
  }

  #err(keyword: string, path: string, reason: string): UnsupportedSchemaError {
    return new UnsupportedSchemaError(keyword, path, reason);
  }

  /** One alternative, or a rule holding several (so the result is safe in a sequence). */
  #alt(exprs: string[], hint: string): string {
    const unique = [...new Set(exprs)];
    if (unique.length === 1) return unique[0];
    return this.b.add(hint, unique.join(" | "));
  }

  /** Converts a schema inside a container: something was consumed before it. */
  #inside<T>(fn: () => T): T {
    const saved = this.#head;
    this.#head = new Set();
    try {
      return fn();
    } finally {
      this.#head = saved;
    }
  }

  #visit(schema: unknown, path: string, hint: string): string {
    if (this.#depth >= MAX_JSON_DEPTH) throw new SchemaTooDeepError(path, MAX_JSON_DEPTH);
    this.#depth++;
    try {
      return this.#visitSchema(schema, path, hint);
    } finally {
      this.#depth--;
    }
  }

  #visitSchema(schema: unknown, path: string, hint: string): string {
    if (schema === true) return primitive(this.b, "value");
    if (schema === false) throw this.#err("false", path, "this schema accepts no value");
    if (!isObject(schema)) throw this.#err("type", path, "a schema must be an object or a boolean");
    for (const k of Object.keys(schema)) {
      if (REFUSED.has(k)) throw this.#err(k, path, `"${k}" cannot be enforced by a grammar`);
    }
    if ("allOf" in schema || ("$ref" in schema && validationKeys(schema, ["$ref"]).length)) {
      return this.#visit(this.#mergeAllOf(schema, path), path, hint);
    }
    if ("$ref" in schema) return this.#ref(schema.$ref, path);
    if ("anyOf" in schema || "oneOf" in schema) return this.#union(schema, path, hint);
    if ("const" in schema || "enum" in schema) return this.#literals(schema, path, hint);

    let types = this.#types(schema, path);
    const nullable = schema.nullable === true;
    if (!types) return primitive(this.b, "value");
    if (nullable && !types.includes("null")) types = [...types, "null"];
    if (types.includes("number")) types = types.filter((t) => t !== "integer");
    const exprs = types.map((t) =>
      this.#typed(schema, t, path, types!.length > 1 ? `${hint}-${t}` : hint)
    );
    return this.#alt(exprs, hint);
  }

  /** Declared types, or those implied by type-specific keywords; undefined: any value. */
  #types(s: Schema, path: string): TypeName[] | undefined {
    if ("type" in s) {
      const list = Array.isArray(s.type) ? s.type : [s.type];
      if (!list.length) throw this.#err("type", path, "an empty type list accepts no value");
      for (const t of list) {
        if (!TYPES.includes(t as TypeName)) {
          throw this.#err("type", path, `unknown type ${JSON.stringify(t)}`);
        }
      }
      return [...new Set(list as TypeName[])];
    }
    const implied: TypeName[] = [];
    if (OBJECT_KEYWORDS.some((k) => k in s)) implied.push("object");
    if (ARRAY_KEYWORDS.some((k) => k in s)) implied.push("array");
    if (
      STRING_KEYWORDS.some((k) => k in s) ||
      (typeof s.format === "string" && !NUMERIC_FORMATS.has(s.format))
    ) implied.push("string");
    if (
      NUMBER_KEYWORDS.some((k) => k in s) ||
      (typeof s.format === "string" && NUMERIC_FORMATS.has(s.format))
    ) implied.push("number");
    // Only the implied kinds: a subset of "any value", and the one the schema describes.
    return implied.length ? implied : undefined;
  }

  #typed(s: Schema, t: TypeName, path: string, hint: string): string {
    switch (t) {
      case "null":
        return primitive(this.b, "null");
      case "boolean":
        return primitive(this.b, "boolean");
      case "string":
        return this.#string(s, path, hint);
      case "integer":
        return this.#integer(s, path, hint);
      case "number":
        return this.#number(s, path, hint);
      case "object":
        return this.#object(s, path, hint);
      case "array":
        return this.#array(s, path, hint);
    }
  }

  // --- references, combinations -------------------------------------------------------

  #resolve(ref: unknown, path: string): { pointer: string; target: unknown } {
    if (typeof ref !== "string") throw this.#err("$ref", path, "must be a string");
    const r = resolveLocalRef(this.doc, ref);
    if ("problem" in r) throw this.#err("$ref", path, r.problem);
    return r;
  }

  #ref(ref: unknown, path: string): string {
    const { pointer, target } = this.#resolve(ref, path);
    const known = this.#refNames.get(pointer);
    if (known !== undefined) {
      if (this.#head.has(pointer)) {
        throw this.#err(
          "$ref",
          path,
          `${String(ref)} refers to itself before any text (left recursion)`,
        );
      }
      return known;
    }
    const name = this.b.reserve(`${this.prefix}ref${pointer}`);
    this.#refNames.set(pointer, name);
    this.#head.add(pointer);
    const expr = this.#visit(target, pointer, name);
    this.#head.delete(pointer);
    this.b.define(name, expr);
    return name;
  }

  /** Flattens allOf (and $ref with sibling keywords) into one schema, or refuses. */
  #mergeAllOf(schema: Schema, path: string): Schema {
    const members: Schema[] = [];
    const collect = (s: unknown, depth: number): void => {
      if (depth > 32) throw this.#err("allOf", path, "nested too deeply (recursive allOf?)");
      if (s === true) return;
      if (s === false) throw this.#err("allOf", path, "a member accepts no value");
      if (!isObject(s)) throw this.#err("allOf", path, "members must be schemas");
      const { allOf, $ref, ...rest } = s;
      if ($ref !== undefined) collect(this.#resolve($ref, path).target, depth + 1);
      if (allOf !== undefined) {
        if (!Array.isArray(allOf) || !allOf.length) {
          throw this.#err("allOf", path, "must be a non-empty array");
        }
        for (const m of allOf) collect(m, depth + 1);
      }
      members.push(rest);
    };
    collect(schema, 0);
    return this.#mergeMembers(members, path);
  }

  #mergeMembers(members: Schema[], path: string): Schema {
    const out: Schema = {};
    const closedSets: Set<string>[] = [];
    const lower = ["minimum", "minLength", "minItems", "minProperties"];
    const upper = ["maximum", "maxLength", "maxItems", "maxProperties"];
    for (const m of members) {
      for (const [k, v] of Object.entries(m)) {
        if (ANNOTATIONS.has(k)) continue;
        if (k === "type") {
          const list = (Array.isArray(v) ? v : [v]) as TypeName[];
          if (out.type === undefined) {
            out.type = list;
          } else {
            const prev = out.type as TypeName[];
            out.type = prev.flatMap((t) =>
              list.includes(t)
                ? [t]
                : t === "number" && list.includes("integer")
                ? ["integer" as TypeName]
                : t === "integer" && list.includes("number")
                ? [t]
                : []
            );
          }
        } else if (k === "properties") {
          if (!isObject(v)) throw this.#err("properties", path, "must be an object");
          const props = (out.properties ?? {}) as Schema;
          for (const [p, ps] of Object.entries(v)) {
            props[p] = Object.hasOwn(props, p) ? { allOf: [props[p], ps] } : ps;
          }
          out.properties = props;
        } else if (k === "required") {
          if (!Array.isArray(v)) throw this.#err("required", path, "must be an array");
          out.required = [...new Set([...(out.required as string[] ?? []), ...v])];
        } else if (k === "additionalProperties") {
          if (v === false) {
            closedSets.push(new Set(Object.keys(isObject(m.properties) ? m.properties : {})));
          } else if (v !== true && !(isObject(v) && !validationKeys(v).length)) {
            throw this.#err(
              "additionalProperties",
              path,
              "a schema for additional properties cannot be merged inside allOf",
            );
          }
        } else if (k === "enum" || k === "const") {
          const values = k === "const" ? [v] : v;
          if (!Array.isArray(values)) throw this.#err("enum", path, "must be an array");
          if (out.enum === undefined) out.enum = values;
          else {
            const keep = new Set(values.map(stable));
            out.enum = (out.enum as unknown[]).filter((x) => keep.has(stable(x)));
          }
        } else if (lower.includes(k) && typeof v === "number" && k in out) {
          out[k] = Math.max(out[k] as number, v);
        } else if (upper.includes(k) && typeof v === "number" && k in out) {
          out[k] = Math.min(out[k] as number, v);
        } else if (k in out && stable(out[k]) !== stable(v)) {
          throw this.#err(k, path, `allOf members set "${k}" differently; cannot merge them`);
        } else {
          out[k] = v;
        }
      }
    }
    if (closedSets.length) {
      const props = (out.properties ?? {}) as Schema;
      const allowed = (p: string) => closedSets.every((set) => set.has(p));
      for (const p of (out.required as string[] | undefined) ?? []) {
        if (!allowed(p)) {
          throw this.#err("allOf", path, `"${p}" is required but another member forbids it`);
        }
      }
      for (const p of Object.keys(props)) if (!allowed(p)) delete props[p];
      out.additionalProperties = false;
    }
    return out;
  }

  #union(s: Schema, path: string, hint: string): string {
    if ("anyOf" in s && "oneOf" in s) {
      throw this.#err("oneOf", path, "anyOf and oneOf together are not supported");
    }
    const key = "anyOf" in s ? "anyOf" : "oneOf";
    const alts = s[key];
    if (!Array.isArray(alts) || !alts.length) {
      throw this.#err(key, path, "must be a non-empty array");
    }
    const { [key]: _, ...rest } = s;
    const shared = validationKeys(rest).length > 0;
    const branches = alts.map((a) => (shared ? { allOf: [rest, a] } : a));
    if (key === "oneOf" && !this.#exclusive(branches, path)) {
      throw this.#err(
        "oneOf",
        path,
        "alternatives may overlap, so exactly-one cannot be enforced; use anyOf, or make them " +
          "differ by type, constant or a required property",
      );
    }
    const exprs = branches.map((br, i) => this.#visit(br, `${path}/${key}/${i}`, `${hint}-${i}`));
    return this.#alt(exprs, hint);
  }

  // --- oneOf exclusivity ----------------------------------------------------------------

  /** A schema as far as exclusivity analysis goes: top-level $ref and allOf resolved. */
  #flat(s: unknown, path: string): Schema | undefined {
    try {
      if (!isObject(s)) return undefined;
      if ("allOf" in s || "$ref" in s) return this.#mergeAllOf(s, path);
      return s;
    } catch {
      return undefined;
    }
  }

  #literalSet(s: Schema): unknown[] | undefined {
    if ("const" in s) return [s.const];
    if (Array.isArray(s.enum)) return s.enum;
    return undefined;
  }

  #possibleTypes(s: Schema): Set<TypeName> {
    const lits = this.#literalSet(s);
    if (lits) return new Set(lits.map(typeOfValue));
    if ("anyOf" in s || "oneOf" in s) return new Set(TYPES);
    const declared = "type" in s
      ? (Array.isArray(s.type) ? s.type : [s.type]) as TypeName[]
      : undefined;
    const types = new Set<TypeName>(declared ?? TYPES);
    if (s.nullable === true) types.add("null");
    return types;
  }

  #typesOverlap(a: Set<TypeName>, b: Set<TypeName>): boolean {
    for (const t of a) {
      if (b.has(t)) return true;
      if (t === "integer" && b.has("number")) return true;
      if (t === "number" && b.has("integer")) return true;
    }
    return false;
  }

  #disjoint(a: Schema, b: Schema, path: string): boolean {
    const la = this.#literalSet(a);
    const lb = this.#literalSet(b);
    if (la && lb) {
      const sb = new Set(lb.map(stable));
      return la.every((v) => !sb.has(stable(v)));
    }
    if (!this.#typesOverlap(this.#possibleTypes(a), this.#possibleTypes(b))) return true;
    const ta = this.#possibleTypes(a);
    const tb = this.#possibleTypes(b);
    if (ta.size !== 1 || !ta.has("object") || tb.size !== 1 || !tb.has("object")) return false;
    const propsA = isObject(a.properties) ? a.properties : {};
    const propsB = isObject(b.properties) ? b.properties : {};
    const reqA = Array.isArray(a.required) ? a.required as string[] : [];
    const reqB = Array.isArray(b.required) ? b.required as string[] : [];
    // A required property whose constants differ (a discriminator).
    for (const p of reqA) {
      if (!reqB.includes(p)) continue;
      const pa = this.#flat(propsA[p], path);
      const pb = this.#flat(propsB[p], path);
      const va = pa && this.#literalSet(pa);
      const vb = pb && this.#literalSet(pb);
      if (va && vb) {
        const sb = new Set(vb.map(stable));
        if (va.every((v) => !sb.has(stable(v)))) return true;
      }
    }
    // Our objects carry only their own properties: each side lacks one the other requires.
    const closed = (s: Schema) =>
      s.additionalProperties === undefined || s.additionalProperties === false;
    const aMissesB = closed(a) && reqB.some((p) => !Object.hasOwn(propsA, p));
    const bMissesA = closed(b) && reqA.some((p) => !Object.hasOwn(propsB, p));
    return aMissesB && bMissesA;
  }

  #exclusive(branches: unknown[], path: string): boolean {
    const flat = branches.map((b) => this.#flat(b, path));
    for (let i = 0; i < flat.length; i++) {
      for (let j = i + 1; j < flat.length; j++) {
        const a = flat[i];
        const b = flat[j];
        if (!a || !b || !this.#disjoint(a, b, path)) return false;
      }
    }
    return true;
  }

  // --- literals -------------------------------------------------------------------------

  #literals(s: Schema, path: string, hint: string): string {
    const keyword = "const" in s ? "const" : "enum";
    const values = "const" in s ? [s.const] : s.enum;
    if (!Array.isArray(values)) throw this.#err("enum", path, "must be an array");
    const declared = "type" in s ? this.#types(s, path) : undefined;
    let types = declared;
    if (types && s.nullable === true) types = [...types, "null"];
    const others = validationKeys(s, ["const", "enum", "type", "nullable", "format"]);
    if (others.length) {
      throw this.#err(others[0], path, `cannot be combined with "${keyword}"`);
    }
    if (s.format !== undefined && values.some((v) => typeof v === "string")) {
      throw this.#err("format", path, `cannot be combined with "${keyword}" string values`);
    }
    const kept = values.filter((v) => !types || types.some((t) => valueHasType(v, t)));
    if (!kept.length) throw this.#err(keyword, path, "no listed value has an allowed type");
    return this.#alt(kept.map((v) => this.#literalValue(v)), hint);
  }

  /** Exactly this value; objects and arrays may be spaced like any other JSON. */
  #literalValue(v: unknown): string {
    const space = () => primitive(this.b, "space");
    if (Array.isArray(v)) {
      if (!v.length) return `"[" ${space()} "]"`;
      const items = v.map((x) => this.#literalValue(x)).join(` ${space()} "," ${space()} `);
      return `"[" ${space()} ${items} ${space()} "]"`;
    }
    if (isObject(v)) {
      const keys = Object.keys(v);
      if (!keys.length) return `"{" ${space()} "}"`;
      const members = keys.map((k) =>
        `${gbnfLiteral(JSON.stringify(k))} ${space()} ":" ${space()} ${this.#literalValue(v[k])}`
      ).join(` ${space()} "," ${space()} `);
      return `"{" ${space()} ${members} ${space()} "}"`;
    }
    return gbnfLiteral(JSON.stringify(v));
  }

  // --- scalars --------------------------------------------------------------------------

  #count(s: Schema, key: string, path: string): number | undefined {
    const v = s[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw this.#err(key, path, "must be a non-negative integer");
    }
    return v;
  }

  #string(s: Schema, path: string, hint: string): string {
    const min = this.#count(s, "minLength", path);
    const max = this.#count(s, "maxLength", path);
    if (typeof s.format === "string" && !NUMERIC_FORMATS.has(s.format)) {
      if (!STRING_FORMATS.has(s.format)) {
        throw this.#err(
          "format",
          path,
          `format "${s.format}" is not supported (supported: ${[...STRING_FORMATS].join(", ")})`,
        );
      }
      for (const k of STRING_KEYWORDS) {
        if (k in s) throw this.#err(k, path, `cannot be combined with "format"`);
      }
      return this.b.add(`${s.format}-string`, `"\\"" ${primitive(this.b, s.format)} "\\""`);
    }
    if (s.pattern !== undefined) {
      if (typeof s.pattern !== "string") throw this.#err("pattern", path, "must be a string");
      if (min !== undefined || max !== undefined) {
        throw this.#err("pattern", path, "cannot be combined with minLength/maxLength");
      }
      try {
        return this.b.add(hint, patternToGbnf(this.b, s.pattern, hint));
      } catch (e) {
        if (e instanceof PatternError || e instanceof RepetitionLimitError) {
          throw this.#err("pattern", path, e.message);
        }
        throw e;
      }
    }
    if (min === undefined && max === undefined) return primitive(this.b, "string");
    if (max !== undefined && max < (min ?? 0)) {
      throw this.#err("maxLength", path, "is smaller than minLength");
    }
    const char = primitive(this.b, "char");
    try {
      const body = this.b.repeat(char, min ?? 0, max ?? Infinity, `${hint}-char`);
      return body ? `"\\"" ${body} "\\""` : `"\\"\\""`;
    } catch (e) {
      if (e instanceof RepetitionLimitError) throw this.#err("minLength", path, e.message);
      throw e;
    }
  }

  #bound(
    s: Schema,
    path: string,
    side: "min" | "max",
  ): { value: number; exclusive: boolean } | undefined {
    const inc = side === "min" ? "minimum" : "maximum";
    const exc = side === "min" ? "exclusiveMinimum" : "exclusiveMaximum";
    const check = (k: string) => {
      const v = s[k];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw this.#err(k, path, "must be a number");
      }
      return v;
    };
    let bound: { value: number; exclusive: boolean } | undefined;
    if (inc in s) bound = { value: check(inc), exclusive: s[exc] === true }; // draft-04 form
    if (exc in s && typeof s[exc] !== "boolean") {
      const v = check(exc);
      const tighter = !bound || (side === "min" ? v >= bound.value : v <= bound.value);
      if (tighter) bound = { value: v, exclusive: true };
    }
    return bound;
  }

  #multipleOf(s: Schema, path: string): boolean {
    if (!("multipleOf" in s)) return false;
    if (s.multipleOf === 1) return true;
    throw this.#err("multipleOf", path, "only multipleOf 1 can be enforced");
  }

  #numericFormat(s: Schema, path: string): string | undefined {
    if (typeof s.format !== "string" || STRING_FORMATS.has(s.format)) return undefined;
    if (!NUMERIC_FORMATS.has(s.format)) {
      throw this.#err("format", path, `format "${s.format}" is not supported for numbers`);
    }
    return s.format;
  }

  #integer(s: Schema, path: string, hint: string): string {
    this.#multipleOf(s, path);
    const lo = this.#bound(s, path, "min");
    const hi = this.#bound(s, path, "max");
    let l = lo === undefined
      ? undefined
      : BigInt(lo.exclusive ? Math.floor(lo.value) + 1 : Math.ceil(lo.value));
    let h = hi === undefined
      ? undefined
      : BigInt(hi.exclusive ? Math.ceil(hi.value) - 1 : Math.floor(hi.value));
    if (this.#numericFormat(s, path) === "int32") {
      l = l === undefined || l < -(2n ** 31n) ? -(2n ** 31n) : l;
      h = h === undefined || h > 2n ** 31n - 1n ? 2n ** 31n - 1n : h;
    }
    if (l === undefined && h === undefined) return primitive(this.b, "integer");
    try {
      return this.b.add(hint, integerRange(l, h));
    } catch (e) {
      if (e instanceof RangeError) throw this.#err(lo ? "minimum" : "maximum", path, e.message);
      throw e;
    }
  }

  #number(s: Schema, path: string, hint: string): string {
    const fmt = this.#numericFormat(s, path);
    if (this.#multipleOf(s, path) || fmt === "int32" || fmt === "int64") {
      return this.#integer(s, path, hint);
    }
    const lo = this.#bound(s, path, "min");
    const hi = this.#bound(s, path, "max");
    if (!lo && !hi) return primitive(this.b, "number");
    for (const [b, side] of [[lo, "min"], [hi, "max"]] as const) {
      if (b && !Number.isInteger(b.value)) {
        const k = b.exclusive
          ? (side === "min" ? "exclusiveMinimum" : "exclusiveMaximum")
          : (side === "min" ? "minimum" : "maximum");
        throw this.#err(k, path, "only whole-number bounds can be enforced on numbers");
      }
    }
    const toBound = (b: { value: number; exclusive: boolean } | undefined): Bound | undefined =>
      b && { value: BigInt(b.value), exclusive: b.exclusive };
    try {
      return this.b.add(hint, numberRange(toBound(lo), toBound(hi)));
    } catch (e) {
      if (e instanceof RangeError) throw this.#err(lo ? "minimum" : "maximum", path, e.message);
      throw e;
    }
  }

  // --- objects --------------------------------------------------------------------------

  #object(s: Schema, path: string, hint: string): string {
    for (const k of ["propertyNames", "dependentRequired", "dependentSchemas", "dependencies"]) {
      if (k in s && !(isObject(s[k]) && !Object.keys(s[k] as Schema).length)) {
        throw this.#err(k, path, `"${k}" cannot be enforced by a grammar`);
      }
    }
    if (isObject(s.patternProperties) && Object.keys(s.patternProperties).length) {
      throw this.#err("patternProperties", path, "cannot be enforced by a grammar");
    }
    const props = s.properties ?? {};
    if (!isObject(props)) throw this.#err("properties", path, "must be an object");
    const required = s.required ?? [];
    if (!Array.isArray(required) || !required.every((r) => typeof r === "string")) {
      throw this.#err("required", path, "must be an array of strings");
    }
    const addl = s.additionalProperties;
    const allowsExtra = addl !== undefined && addl !== false;
    if (s.unevaluatedProperties !== undefined && s.unevaluatedProperties !== true) {
      if (s.unevaluatedProperties !== false || allowsExtra) {
        throw this.#err("unevaluatedProperties", path, "cannot be enforced by a grammar");
      }
    }
    const space = primitive(this.b, "space");
    const names = Object.keys(props);
    const entries: { name: string; schema: unknown; required: boolean }[] = [];
    for (const name of names) {
      const isRequired = required.includes(name);
      if (props[name] === false) {
        if (isRequired) throw this.#err("required", path, `"${name}" is required but forbidden`);
        continue;
      }
      entries.push({ name, schema: props[name], required: isRequired });
    }
    for (const name of required as string[]) {
      if (Object.hasOwn(props, name)) continue;
      if (!allowsExtra) {
        throw this.#err(
          "required",
          path,
          `"${name}" is required but not among the properties, and no additional properties are allowed`,
        );
      }
      entries.push({ name, schema: addl, required: true });
    }

    const minProps = this.#count(s, "minProperties", path);
    const maxProps = this.#count(s, "maxProperties", path);
    const mustHave = entries.filter((e) => e.required).length;
    if (minProps !== undefined && minProps > mustHave) {
      throw this.#err(
        "minProperties",
        path,
        "can only be enforced when the required properties meet it",
      );
    }
    if (maxProps !== undefined && (allowsExtra || maxProps < entries.length)) {
      throw this.#err(
        "maxProperties",
        path,
        "can only be enforced when all properties fit within it",
      );
    }

    const kvs = this.#inside(() =>
      entries.map((e) => {
        const ptr = `${path}/properties/${pointerToken(e.name)}`;
        const value = this.#visit(e.schema, ptr, `${hint}-${e.name}`);
        return {
          kv: this.b.add(
            `${hint}-${e.name}-kv`,
            `${gbnfLiteral(JSON.stringify(e.name))} ${space} ":" ${space} ${value}`,
          ),
          required: e.required,
        };
      })
    );
    let extraKv: string | undefined;
    if (allowsExtra) {
      const value = this.#inside(() =>
        this.#visit(addl, `${path}/additionalProperties`, `${hint}-additional`)
      );
      const key = this.#keyExcept(names, `${hint}-additional-key`);
      extraKv = this.b.add(`${hint}-additional-kv`, `${key} ${space} ":" ${space} ${value}`);
    }

    const sep = `${space} "," ${space}`;
    const rests = new Map<number, string>();
    const rest = (i: number): string => {
      if (i === kvs.length) return extraKv ? `(${sep} ${extraKv})*` : "";
      const cached = rests.get(i);
      if (cached !== undefined) return cached;
      const own = kvs[i].required ? `${sep} ${kvs[i].kv}` : `(${sep} ${kvs[i].kv})?`;
      const tail = rest(i + 1);
      const body = tail ? `${own} ${tail}` : own;
      const out = i + 1 === kvs.length && !extraKv ? body : this.b.add(`${hint}-rest-${i}`, body);
      rests.set(i, out);
      return out;
    };
    const firsts: string[] = [];
    for (let i = 0;; i++) {
      if (i === kvs.length) {
        if (extraKv) firsts.push(`${extraKv} (${sep} ${extraKv})*`);
        break;
      }
      const tail = rest(i + 1);
      firsts.push(tail ? `${kvs[i].kv} ${tail}` : kvs[i].kv);
      if (kvs[i].required) break;
    }
    if (!firsts.length) return `"{" ${space} "}"`;
    const nullable = kvs.every((k) => !k.required);
    const body = firsts.length === 1 ? firsts[0] : `(${firsts.join(" | ")})`;
    return nullable ? `"{" ${space} (${body} ${space})? "}"` : `"{" ${space} ${body} ${space} "}"`;
  }

  /** A JSON string (no escapes) that is none of `names`, so extra keys never repeat known ones. */
  #keyExcept(names: string[], hint: string): string {
    const keyChar = this.b.add("key-char", rawCharClass());
    interface Trie {
      end: boolean;
      children: Map<number, Trie>;
    }
    const root: Trie = { end: false, children: new Map() };
    for (const n of names) {
      let node = root;
      for (const ch of n) {
        const cp = ch.codePointAt(0)!;
        let next = node.children.get(cp);
        if (!next) node.children.set(cp, next = { end: false, children: new Map() });
        node = next;
      }
      node.end = true;
    }
    // Strings that do not lie on a forbidden path (the node itself is not forbidden).
    const beyond = (node: Trie): string => {
      const alts: string[] = [];
      const used: number[] = [];
      for (const [cp, child] of [...node.children].sort((a, b) => a[0] - b[0])) {
        // A character keys cannot hold raw (quote, backslash, control) never starts a clash.
        if (cp === 0x22 || cp === 0x5c || cp < 0x20 || cp === 0x7f) continue;
        used.push(cp);
        const lit = gbnfCharClass([[cp, cp]]);
        if (child.children.size) {
          const inner = beyond(child);
          alts.push(child.end ? `${lit} (${inner})` : `${lit} (${inner})?`);
        } else {
          alts.push(child.end ? `${lit} ${keyChar}+` : `${lit} ${keyChar}*`);
        }
      }
      alts.push(`${rawCharClass(used)} ${keyChar}*`);
      return alts.join(" | ");
    };
    const body = beyond(root);
    const inner = root.end ? `(${body})` : `(${body})?`;
    return this.b.add(hint, `"\\"" ${inner} "\\""`);
  }

  // --- arrays ---------------------------------------------------------------------------

  #array(s: Schema, path: string, hint: string): string {
    if ("contains" in s) throw this.#err("contains", path, "cannot be enforced by a grammar");
    if (s.unevaluatedItems !== undefined && s.unevaluatedItems !== true) {
      throw this.#err("unevaluatedItems", path, "cannot be enforced by a grammar");
    }
    const min = this.#count(s, "minItems", path) ?? 0;
    const max = this.#count(s, "maxItems", path) ?? Infinity;
    if (max < min) throw this.#err("maxItems", path, "is smaller than minItems");
    if (s.uniqueItems === true && max > 1) {
      throw this.#err("uniqueItems", path, "cannot be enforced by a grammar");
    }

    let prefix: unknown[] = [];
    let prefixKey = "prefixItems";
    let rest: unknown;
    let restKey = "items";
    let tuple = false;
    if (Array.isArray(s.prefixItems)) {
      prefix = s.prefixItems;
      rest = s.items;
      tuple = true;
    } else if (Array.isArray(s.items)) {
      prefix = s.items;
      prefixKey = "items";
      rest = s.additionalItems;
      restKey = "additionalItems";
      tuple = true;
    } else {
      rest = s.items ?? true;
    }
    const k = Math.min(prefix.length, max);
    let restMin = Math.max(min - k, 0);
    let restMax = max - k;
    if (rest === false || (tuple && rest === undefined)) {
      if (rest === undefined && restMin > 0) rest = true; // only what minItems requires
      restMax = rest === false ? 0 : restMin;
    }
    if (restMax < restMin) {
      throw this.#err("minItems", path, "more items are required than the schema allows");
    }
    restMin = Math.min(restMin, restMax);

    const space = primitive(this.b, "space");
    const sep = `${space} "," ${space}`;
    const items = this.#inside(() =>
      prefix.slice(0, k).map((p, i) =>
        this.b.symbol(this.#visit(p, `${path}/${prefixKey}/${i}`, `${hint}-${i}`), `${hint}-${i}`)
      )
    );
    const restSym = restMax > 0
      ? this.#inside(() =>
        this.b.symbol(this.#visit(rest, `${path}/${restKey}`, `${hint}-item`), `${hint}-item`)
      )
      : "";

    const repeat = (item: string, lo: number, hi: number): string => {
      try {
        return this.b.repeat(item, lo, hi, `${hint}-next`);
      } catch (e) {
        if (e instanceof RepetitionLimitError) throw this.#err("maxItems", path, e.message);
        throw e;
      }
    };
    const nextRest = restMax > 0 ? this.b.add(`${hint}-next`, `${sep} ${restSym}`) : "";
    const tail = (i: number): string => {
      if (i < k) {
        const e = `${sep} ${items[i]} ${tail(i + 1)}`.trim();
        return i < min ? e : `(${e})?`;
      }
      return restMax > 0 ? repeat(nextRest, restMin, restMax) : "";
    };
    let first: string;
    if (k > 0) first = `${items[0]} ${tail(1)}`.trim();
    else if (restMax > 0) {
      first = `${restSym} ${repeat(nextRest, Math.max(restMin - 1, 0), restMax - 1)}`.trim();
    } else return `"[" ${space} "]"`;
    return min === 0
      ? `"[" ${space} (${first} ${space})? "]"`
      : `"[" ${space} ${first} ${space} "]"`;
  }
}

/**
 * GBNF text for documents valid under `schema`, for `llama_sampler_init_grammar(vocab,
 * grammar, rootName)`. Throws `UnsupportedSchemaError` for what cannot be enforced.
 */
export function jsonSchemaToGbnf(schema: unknown, opts: SchemaToGbnfOptions = {}): string {
  const rootName = opts.rootName ?? "root";
  if (!/^[a-zA-Z0-9-]+$/.test(rootName)) throw new Error(`invalid rule name ${rootName}`);
  const b = new GbnfBuilder(PRIMITIVE_NAMES);
  new SchemaConverter(b, schema).convertRoot(rootName);
  return b.render(rootName);
}

/** GBNF for any JSON object (`response_format: {"type": "json_object"}`). */
export function jsonObjectGbnf(): string {
  const b = new GbnfBuilder(PRIMITIVE_NAMES);
  b.add("root", primitive(b, "object"));
  return b.render("root");
}
