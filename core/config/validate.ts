/**
 * The pipeline shared by the three config files: TOML text → document →
 * environment overrides → zod schema + cross-field checks → typed config, or a
 * `ConfigError` listing every problem with file, line, key path, expectation
 * and what was found.
 */
import { parse, TomlError } from "smol-toml";
import type { z } from "zod";
import { ConfigError, type ConfigIssueInit, makeIssue } from "./config_error.ts";
import { describeValue } from "./describe_value.ts";
import { applyEnvOverrides, type Env, type EnvOverride, type EnvSpec } from "./env_overrides.ts";
import { formatKeyPath, getAt, isPathPrefix, type PathSegment } from "./key_path.ts";
import { closestName } from "./suggest.ts";
import { indexKeyLines, lineOf } from "./toml_lines.ts";

/** A problem found by a file's cross-field checks (uniqueness, references). */
export interface CrossIssue {
  readonly path: readonly PathSegment[];
  readonly expected: string;
  /** Defaults to the value at `path`, described. */
  readonly found?: string;
  readonly hint?: string;
}

export interface ConfigFileSpec<S extends z.ZodType> {
  readonly schema: S;
  readonly env: EnvSpec;
  /** Checks across keys on the raw document (after overrides); run even when the schema fails. */
  readonly crossCheck?: (doc: Record<string, unknown>) => CrossIssue[];
  /** Paths whose values are secrets: errors describe their shape, never their text. */
  readonly isSecret?: (path: readonly PropertyKey[]) => boolean;
}

/** What a loader gets back besides the config: where each overridden value came from. */
export interface ValidatedConfig<T> {
  readonly config: T;
  readonly overrides: readonly EnvOverride[];
}

/** Parses TOML text; a syntax error becomes a ConfigError with smol-toml's line and column. */
export function parseTomlText(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const reason = e.message.replace(/^Invalid TOML document:\s*/, "").split("\n")[0].trim();
    const init = {
      file,
      line: e.line,
      column: e.column,
      keyPath: "",
      expected: "valid TOML",
      found: reason,
      excerpt: e.codeblock,
    };
    throw new ConfigError([
      makeIssue({ ...init, message: `${file}:${e.line}:${e.column}: invalid TOML: ${reason}` }),
    ], { cause: e });
  }
}

const ARTICLE_TYPES: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  bigint: "an integer",
  boolean: "true or false",
  array: "an array",
  object: "a table",
  record: "a table",
  date: "a date",
};

/** Turns a zod issue into the "expected ..." text when the schema gave none. */
function deriveExpected(iss: z.core.$ZodRawIssue): string {
  switch (iss.code) {
    case "invalid_type":
      return ARTICLE_TYPES[iss.expected] ?? iss.expected;
    case "invalid_value":
      return iss.values.length === 1
        ? JSON.stringify(iss.values[0])
        : `one of ${iss.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "too_small": {
      const n = Number(iss.minimum);
      if (iss.origin === "string") {
        return n === 1 ? "a non-empty string" : `at least ${n} characters`;
      }
      if (iss.origin === "array" || iss.origin === "set") {
        return n === 1 ? "a non-empty array" : `at least ${n} items`;
      }
      return `a number ${iss.inclusive ? ">=" : ">"} ${n}`;
    }
    case "too_big": {
      const n = Number(iss.maximum);
      if (iss.origin === "string") return `at most ${n} characters`;
      if (iss.origin === "array" || iss.origin === "set") return `at most ${n} items`;
      return `a number ${iss.inclusive ? "<=" : "<"} ${n}`;
    }
    case "invalid_format":
      return `a string in ${iss.format} format`;
    case "invalid_union":
      return "a value of one of the accepted forms";
    default:
      return iss.message ?? iss.code ?? "a valid value";
  }
}

/** Keys of the object schema at `path`, looking through optional/default/pipe/array wrappers. */
export function schemaKeysAt(
  schema: z.ZodType,
  path: readonly PropertyKey[],
): string[] | undefined {
  // deno-lint-ignore no-explicit-any
  let cur: any = schema;
  let i = 0;
  for (let guard = 0; guard < 100 && cur; guard++) {
    const def = cur._zod.def;
    switch (def.type) {
      case "optional":
      case "nullable":
      case "default":
      case "prefault":
      case "readonly":
      case "catch":
      case "nonoptional":
        cur = def.innerType;
        continue;
      case "pipe":
        cur = def.in;
        continue;
      case "array":
        if (i >= path.length) return undefined;
        cur = def.element;
        i++;
        continue;
      case "record":
        if (i >= path.length) return undefined;
        cur = def.valueType;
        i++;
        continue;
      case "object":
        if (i >= path.length) return Object.keys(def.shape);
        cur = def.shape[path[i] as string];
        i++;
        continue;
      default:
        return undefined;
    }
  }
  return undefined;
}

interface RawIssue {
  path: PropertyKey[];
  expected: string;
  found?: string;
  hint?: string;
}

function zodToRawIssues(schema: z.ZodType, issues: readonly z.core.$ZodIssue[]): RawIssue[] {
  const out: RawIssue[] = [];
  for (const iss of issues) {
    if (iss.code === "unrecognized_keys") {
      const known = schemaKeysAt(schema, iss.path) ?? [];
      const where = iss.path.length === 0 ? "top-level key" : `key of ${formatKeyPath(iss.path)}`;
      for (const key of iss.keys) {
        const near = closestName(key, known);
        out.push({
          path: [...iss.path, key],
          expected: known.length > 0 ? `a known ${where} (${known.join(", ")})` : "no such key",
          found: `unknown key "${key}"`,
          hint: near === undefined ? undefined : `did you mean "${near}"?`,
        });
      }
      continue;
    }
    const found = iss.code === "custom" ? iss.params?.found : undefined;
    out.push({
      path: [...iss.path],
      expected: iss.message,
      found: typeof found === "string" ? found : undefined,
    });
  }
  return out;
}

/** The variable responsible for a path: the one whose created (or set) path is its longest prefix. */
function overrideFor(
  overrides: readonly EnvOverride[],
  path: readonly PropertyKey[],
): EnvOverride | undefined {
  let best: EnvOverride | undefined;
  for (const o of overrides) {
    if (
      isPathPrefix(o.createdPath, path) && (!best || o.createdPath.length > best.createdPath.length)
    ) {
      best = o;
    }
  }
  return best;
}

function setAt(doc: Record<string, unknown>, path: readonly PathSegment[], value: unknown): void {
  let cur = doc as Record<PropertyKey, unknown>;
  for (const seg of path.slice(0, -1)) cur = cur[seg] as Record<PropertyKey, unknown>;
  cur[path[path.length - 1]] = value;
}

/**
 * Validates a parsed document with its environment overrides applied.
 * `text` (the file's source) lets errors carry line numbers.
 */
export function validateDocument<S extends z.ZodType>(
  spec: ConfigFileSpec<S>,
  doc: Record<string, unknown>,
  options: { file: string; text?: string; env?: Env },
): ValidatedConfig<z.output<S>> {
  const { file, text } = options;
  const applied = applyEnvOverrides(doc, options.env ?? {}, spec.env, file);
  const overrides = applied.overrides;
  const parseOnce = () => spec.schema.safeParse(doc, { error: (iss) => deriveExpected(iss) });

  let result = parseOnce();
  if (!result.success) {
    // `TOKEN=12345` reads as a number; where the key wants a string, use the text as given.
    let changed = false;
    for (const iss of result.error.issues) {
      if (iss.code !== "invalid_type" || iss.expected !== "string") continue;
      const o = overrides.find((o) => formatKeyPath(o.path) === formatKeyPath(iss.path));
      if (o && typeof o.value !== "string") {
        setAt(doc, o.path, o.raw);
        changed = true;
      }
    }
    if (changed) result = parseOnce();
  }

  const raw: RawIssue[] = result.success ? [] : zodToRawIssues(spec.schema, result.error.issues);
  for (const c of spec.crossCheck?.(doc) ?? []) raw.push({ ...c, path: [...c.path] });

  const issues: ConfigIssueInit[] = [...applied.issues];
  const index = text === undefined ? undefined : indexKeyLines(text);
  const seen = new Set<string>();
  for (const r of raw) {
    const keyPath = formatKeyPath(r.path);
    const dedupe = `${keyPath}\u0000${r.expected}`;
    if (seen.has(dedupe)) continue; // a zod union can report one path twice
    seen.add(dedupe);
    const o = overrideFor(overrides, r.path);
    const secret = spec.isSecret?.(r.path) ?? false;
    issues.push({
      file,
      line: o === undefined && index !== undefined ? lineOf(index, r.path) : undefined,
      keyPath,
      envVar: o?.variable,
      expected: r.expected,
      found: r.found ?? describeValue(getAt(doc, r.path), secret),
      hint: r.hint,
    });
  }

  if (issues.length > 0) {
    // File issues in line order, then those without a line (environment, defaults).
    const ordered = issues
      .map((i, n) => ({ i, n }))
      .sort((a, b) => (a.i.line ?? Infinity) - (b.i.line ?? Infinity) || a.n - b.n)
      .map(({ i }) => makeIssue(i));
    throw new ConfigError(ordered);
  }
  if (!result.success) throw new Error("unreachable: schema failed without issues");
  return { config: result.data, overrides };
}

/** Reads a config file's text; a missing or unreadable file becomes a ConfigError naming the path. */
export async function readConfigText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    const reason = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : e instanceof Deno.errors.IsADirectory
      ? "a directory"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new ConfigError([
      makeIssue({
        file: path,
        keyPath: "",
        expected: "a readable TOML file",
        found: reason,
        message: `${path}: cannot read config file: ${reason}`,
      }),
    ], { cause: e });
  }
}
