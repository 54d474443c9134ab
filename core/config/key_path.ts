/** Key paths as users read them: `neurons[1].endpoint`, `memory_budget_mb."my dev"`. */

export type PathSegment = string | number;

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** Formats a path the way TOML would address it; numbers are array indices. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const key = String(seg);
      const part = BARE_KEY.test(key) ? key : JSON.stringify(key);
      out += out === "" ? part : `.${part}`;
    }
  }
  return out;
}

/** Reads the value at `path` in a plain TOML document; undefined when any step is missing. */
export function getAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = doc;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    if (!Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

/** True when `prefix` is a (not necessarily proper) prefix of `path`. */
export function isPathPrefix(
  prefix: readonly PropertyKey[],
  path: readonly PropertyKey[],
): boolean {
  return prefix.length <= path.length && prefix.every((seg, i) => seg === path[i]);
}
