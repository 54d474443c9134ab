/**
 * Environment overrides: `CORTEX_GATEWAY__LISTEN=0.0.0.0:31313` sets
 * `gateway.listen`. After the prefix, `__` separates path segments, a single
 * `_` stays part of a key, and a segment of digits is an array index
 * (`CORTEX_NEURONS__0__TOKEN`). Values are read as TOML values when they parse
 * (numbers, booleans, arrays, inline tables), otherwise as plain strings.
 */
import { parse } from "smol-toml";
import { formatKeyPath, type PathSegment } from "./key_path.ts";
import { closestName } from "./suggest.ts";
import { type ConfigIssueInit } from "./config_error.ts";

/** An environment as a plain map, e.g. `Deno.env.toObject()`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** How a config file maps onto environment variables. */
export interface EnvSpec {
  /** Variable prefix including its trailing underscore, e.g. `CORTEX_`. */
  readonly prefix: string;
  /** The file's top-level keys. */
  readonly rootKeys: readonly string[];
  /**
   * Top-level names handled by this file. When given, other variables with the
   * prefix are left alone (they belong to a sibling file sharing the prefix).
   */
  readonly onlyRoots?: readonly string[];
  /** Top-level names that belong to a sibling file sharing the prefix. */
  readonly ignoreRoots?: readonly string[];
  /**
   * Key paths (as `formatKeyPath` writes them) whose child keys are free-form
   * names that keep the variable's spelling, e.g. `memory_budget_mb` (device names).
   */
  readonly verbatimKeysUnder?: readonly string[];
}

/** One variable, resolved to the key path it sets. */
export interface EnvOverride {
  readonly variable: string;
  /** The key path the value lands on (array indices as numbers). */
  readonly path: readonly PathSegment[];
  /** The shortest path this variable created (it owns issues under it); equals `path` when nothing new was created. */
  readonly createdPath: readonly PathSegment[];
  /** The variable's text as given. */
  readonly raw: string;
  /** The value after TOML value parsing (or `raw` when it did not parse). */
  readonly value: unknown;
}

/** Reads `raw` as a TOML value (`5`, `true`, `["a"]`, `{ CPU = 1 }`); plain text stays a string. */
export function parseEnvValue(raw: string): unknown {
  try {
    const doc = parse(`v = ${raw}`);
    const keys = Object.keys(doc);
    // A value with a newline could smuggle extra keys in; only a single `v` counts.
    if (keys.length === 1 && keys[0] === "v") return doc.v;
  } catch {
    // not a TOML value: a plain string
  }
  return raw;
}

interface PendingOverride {
  variable: string;
  segments: PathSegment[];
  raw: string;
}

function compareSegments(a: readonly PathSegment[], b: readonly PathSegment[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  // Shorter first so `CORTEX_AUTH={...}` applies before `CORTEX_AUTH__API_KEYS=[...]`.
  return a.length - b.length;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * Applies the variables of `env` that `spec` selects to `doc` (mutated in place).
 * Returns what each variable set and the problems that stop a variable applying
 * (bad name, index gaps, writing through a non-table); values themselves are
 * validated later by the file's schema, exactly like file values.
 */
export function applyEnvOverrides(
  doc: Record<string, unknown>,
  env: Env,
  spec: EnvSpec,
  file: string,
): { overrides: EnvOverride[]; issues: ConfigIssueInit[] } {
  const issues: ConfigIssueInit[] = [];
  const pending: PendingOverride[] = [];
  const verbatim = new Set(spec.verbatimKeysUnder ?? []);

  for (const [variable, raw] of Object.entries(env)) {
    if (raw === undefined || !variable.startsWith(spec.prefix)) continue;
    const parts = variable.slice(spec.prefix.length).split("__");
    const root = parts[0].toLowerCase();
    if (spec.onlyRoots && !spec.onlyRoots.includes(root)) continue;
    if (spec.ignoreRoots?.includes(root)) continue;
    if (parts.length === 1 && !spec.rootKeys.includes(root)) {
      // A single-segment variable may belong to other software sharing the
      // prefix (CORTEX_LOG, or AWS Neuron's NEURON_RT_*); flag only close typos
      // (distance 2 keeps NEURON_RT_LOG_LEVEL from matching log_level).
      const near = closestName(root, spec.rootKeys, 2);
      if (near !== undefined) {
        issues.push({
          file,
          keyPath: root,
          envVar: variable,
          expected: `a known setting (${spec.rootKeys.join(", ")})`,
          found: `unknown key "${root}"`,
          hint: `did you mean ${spec.prefix}${near.toUpperCase()}?`,
        });
      }
      continue;
    }
    if (parts.some((p) => p === "")) {
      issues.push({
        file,
        keyPath: "",
        envVar: variable,
        expected: `a name like ${spec.prefix}TABLE__KEY (segments joined by "__")`,
        found: "an empty segment in the variable name",
      });
      continue;
    }
    const segments: PathSegment[] = [];
    for (const part of parts) {
      const parentKey = formatKeyPath(segments);
      if (/^\d+$/.test(part)) segments.push(Number(part));
      else segments.push(verbatim.has(parentKey) ? part : part.toLowerCase());
    }
    pending.push({ variable, segments, raw });
  }

  pending.sort((a, b) => compareSegments(a.segments, b.segments));

  const overrides: EnvOverride[] = [];
  for (const p of pending) {
    const value = parseEnvValue(p.raw);
    let container: unknown = doc;
    const path: PathSegment[] = [];
    let createdPath: PathSegment[] | undefined;
    let failed = false;
    for (let i = 0; i < p.segments.length; i++) {
      const seg = p.segments[i];
      const last = i === p.segments.length - 1;
      const fail = (expected: string, found: string) => {
        issues.push({ file, keyPath: formatKeyPath(path), envVar: p.variable, expected, found });
        failed = true;
      };
      if (Array.isArray(container)) {
        if (typeof seg !== "number") {
          fail("an array index (digits)", `"${seg}"`);
          break;
        }
        if (seg > container.length) {
          fail(
            `an index from 0 to ${container.length} (the array has ${container.length} items)`,
            `index ${seg}`,
          );
          break;
        }
        path.push(seg);
        if (seg === container.length) {
          container.push(last ? value : {});
          createdPath ??= [...path];
        } else if (last) container[seg] = value;
        container = container[seg];
      } else if (isTable(container)) {
        // Reuse an existing key spelt in another case (device names like CUDA0).
        const key = typeof seg === "number"
          ? String(seg)
          : Object.keys(container).find((k) => k.toLowerCase() === seg.toLowerCase()) ?? seg;
        path.push(key);
        if (!Object.hasOwn(container, key)) {
          createdPath ??= [...path];
          container[key] = last ? value : typeof p.segments[i + 1] === "number" ? [] : {};
        } else if (last) container[key] = value;
        container = container[key];
      } else {
        fail("a table or array to set keys in", "a plain value");
        break;
      }
    }
    if (!failed) {
      overrides.push({
        variable: p.variable,
        path,
        createdPath: createdPath ?? path,
        raw: p.raw,
        value,
      });
    }
  }
  return { overrides, issues };
}
