/**
 * Best-effort line numbers for key paths in TOML text. smol-toml reports no
 * positions for values, so this scans table headers and `key =` lines the way
 * the TOML grammar nests them: `[[neurons]]` opens `neurons[0]`, `neurons[1]`…,
 * `[models.sampling]` after the second `[[models]]` is `models[1].sampling`.
 */
import { formatKeyPath, type PathSegment } from "./key_path.ts";

/** Canonical key path (as `formatKeyPath` writes it) → 1-based line. */
export type KeyLineIndex = ReadonlyMap<string, number>;

const BARE = /^[A-Za-z0-9_-]+/;

/** Parses a dotted TOML key (`a."b.c".'d'`) at the start of `s`; returns the keys and the rest. */
function parseKey(s: string): { keys: string[]; rest: string } | undefined {
  const keys: string[] = [];
  let rest = s.trimStart();
  for (;;) {
    let m: RegExpMatchArray | null;
    if ((m = rest.match(BARE))) {
      keys.push(m[0]);
    } else if ((m = rest.match(/^"((?:[^"\\]|\\.)*)"/))) {
      try {
        keys.push(JSON.parse(m[0]));
      } catch {
        keys.push(m[1]);
      }
    } else if ((m = rest.match(/^'([^']*)'/))) {
      keys.push(m[1]);
    } else {
      return undefined;
    }
    rest = rest.slice(m[0].length).trimStart();
    if (!rest.startsWith(".")) return { keys, rest };
    rest = rest.slice(1).trimStart();
  }
}

/**
 * Net bracket depth change of a value fragment, ignoring strings and comments,
 * and whether it leaves a multi-line string open (`"""` / `'''`).
 */
function scanValue(
  s: string,
  openString: string | null,
): { depth: number; openString: string | null } {
  let depth = 0;
  let i = 0;
  let open = openString;
  while (i < s.length) {
    if (open !== null) {
      if (open === '"""' && s[i] === "\\") {
        i += 2;
        continue;
      }
      if (s.startsWith(open, i)) {
        i += 3;
        open = null;
        continue;
      }
      i++;
      continue;
    }
    const c = s[i];
    if (c === "#") break;
    if (s.startsWith('"""', i) || s.startsWith("'''", i)) {
      open = s.slice(i, i + 3);
      i += 3;
      continue;
    }
    if (c === '"') {
      const m = s.slice(i).match(/^"(?:[^"\\]|\\.)*"?/);
      i += m ? m[0].length : 1;
      continue;
    }
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      i = end < 0 ? s.length : end + 1;
      continue;
    }
    if (c === "[" || c === "{") depth++;
    else if (c === "]" || c === "}") depth--;
    i++;
  }
  return { depth, openString: open };
}

/** Indexes the line of every table header and key assignment in `text`. */
export function indexKeyLines(text: string): KeyLineIndex {
  const index = new Map<string, number>();
  const arrayCounts = new Map<string, number>();
  let table: PathSegment[] = [];
  let depth = 0; // open brackets of a multi-line value
  let openString: string | null = null;

  const record = (path: readonly PathSegment[], line: number) => {
    const key = formatKeyPath(path);
    if (!index.has(key)) index.set(key, line);
  };
  // Walks header keys, stepping into the latest element of each array of tables.
  const resolve = (keys: readonly string[]): PathSegment[] => {
    const out: PathSegment[] = [];
    for (const k of keys) {
      out.push(k);
      const n = arrayCounts.get(formatKeyPath(out));
      if (n !== undefined) out.push(n - 1);
    }
    return out;
  };

  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const lineNo = i + 1;
    if (openString !== null || depth > 0) {
      const s = scanValue(line, openString);
      depth += s.depth;
      openString = s.openString;
      continue;
    }
    const trimmed = line.trimStart();
    if (trimmed.startsWith("[[")) {
      const parsed = parseKey(trimmed.slice(2));
      if (parsed && parsed.rest.startsWith("]]")) {
        const parent = resolve(parsed.keys.slice(0, -1));
        const arrayPath = [...parent, parsed.keys[parsed.keys.length - 1]];
        const arrayKey = formatKeyPath(arrayPath);
        const n = (arrayCounts.get(arrayKey) ?? 0) + 1;
        arrayCounts.set(arrayKey, n);
        record(arrayPath, lineNo);
        table = [...arrayPath, n - 1];
        record(table, lineNo);
      }
      continue;
    }
    if (trimmed.startsWith("[")) {
      const parsed = parseKey(trimmed.slice(1));
      if (parsed && parsed.rest.startsWith("]")) {
        table = resolve(parsed.keys);
        for (let k = 1; k <= table.length; k++) record(table.slice(0, k), lineNo);
      }
      continue;
    }
    const parsed = parseKey(trimmed);
    if (!parsed || !parsed.rest.startsWith("=")) continue;
    for (let k = 1; k <= parsed.keys.length; k++) {
      record([...table, ...parsed.keys.slice(0, k)], lineNo);
    }
    const s = scanValue(parsed.rest.slice(1), null);
    depth = Math.max(0, s.depth);
    openString = s.openString;
  }
  return index;
}

/** The line of `path`, or of its nearest indexed ancestor; undefined when none is in the file. */
export function lineOf(index: KeyLineIndex, path: readonly PropertyKey[]): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const line = index.get(formatKeyPath(path.slice(0, n)));
    if (line !== undefined) return line;
  }
  return undefined;
}
