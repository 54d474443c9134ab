/**
 * Configuration errors: one `ConfigError` carries every problem found in a file
 * (plus its environment overrides), each naming the file, the line when known,
 * the key path, what was expected and what was found.
 */

/** One problem in a config file or in an environment override of it. */
export interface ConfigIssue {
  /** The file as the user named it, e.g. `cortex.toml` or `/etc/cortex/cortex.toml`. */
  readonly file: string;
  /** 1-based line in the file; absent when unknowable (env overrides, defaults). */
  readonly line?: number;
  /** 1-based column, known for TOML syntax errors only. */
  readonly column?: number;
  /** Dotted key path, e.g. `neurons[1].endpoint`; empty for whole-file problems. */
  readonly keyPath: string;
  /** What the key accepts, e.g. `one of "lru", "priority"`. */
  readonly expected: string;
  /** What was there, e.g. `"fifo"` or `nothing (the key is missing)`. */
  readonly found: string;
  /** The environment variable that supplied the value, when one did. */
  readonly envVar?: string;
  /** A suggestion, e.g. `did you mean "listen"?`. */
  readonly hint?: string;
  /** Source lines around a syntax error, with a caret under the column. */
  readonly excerpt?: string;
  /** The full one-line message. */
  readonly message: string;
}

export type ConfigIssueInit = Omit<ConfigIssue, "message"> & { message?: string };

/** Builds the standard one-line message: `file:line: key (set by VAR): expected X, found Y; hint`. */
export function issueMessage(i: Omit<ConfigIssueInit, "message">): string {
  const where = i.line === undefined
    ? i.file
    : `${i.file}:${i.line}${i.column === undefined ? "" : `:${i.column}`}`;
  const key = i.keyPath === "" ? "" : ` ${i.keyPath}`;
  const env = i.envVar === undefined ? "" : ` (set by ${i.envVar})`;
  const hint = i.hint === undefined ? "" : `; ${i.hint}`;
  return `${where}:${key}${env}${
    key || env ? ":" : ""
  } expected ${i.expected}, found ${i.found}${hint}`;
}

export function makeIssue(init: ConfigIssueInit): ConfigIssue {
  return { ...init, message: init.message ?? issueMessage(init) };
}

/**
 * Thrown by every config loader. `issues` holds all problems found; the
 * top-level fields mirror the first one so simple callers can read them directly.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly issues: readonly ConfigIssue[];
  readonly file: string;
  readonly line?: number;
  readonly keyPath: string;
  readonly expected: string;
  readonly found: string;

  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    if (issues.length === 0) throw new TypeError("ConfigError needs at least one issue");
    super(issues.map((i) => i.message).join("\n"), options);
    this.issues = issues;
    const first = issues[0];
    this.file = first.file;
    this.line = first.line;
    this.keyPath = first.keyPath;
    this.expected = first.expected;
    this.found = first.found;
  }
}

/** Renders any error for a person at a terminal; the CLI prints this and exits non-zero. */
export function formatConfigError(e: unknown): string {
  if (e instanceof ConfigError) {
    const render = (i: ConfigIssue) =>
      i.excerpt === undefined
        ? i.message
        : `${i.message}\n${i.excerpt.replace(/\n+$/, "").replace(/^/gm, "    ")}`;
    if (e.issues.length === 1) return `config error: ${render(e.issues[0])}`;
    const files = [...new Set(e.issues.map((i) => i.file))].join(", ");
    return `${e.issues.length} config errors in ${files}:\n` +
      e.issues.map((i) => `  - ${render(i).replace(/\n/g, "\n    ")}`).join("\n");
  }
  if (e instanceof Error) return `config error: ${e.message}`;
  return `config error: ${String(e)}`;
}
