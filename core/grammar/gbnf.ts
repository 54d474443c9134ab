/**
 * Writing GBNF for llama.cpp's grammar sampler: literals, character classes, rule names,
 * bounded repetition, and a rule table that renders to grammar text.
 *
 * llama.cpp (v0.4.0, src/llama-grammar.cpp) expands `x{m,n}` into rules and refuses a
 * repetition once (rules inside x) × n reaches 2000 — and silently makes any `{m,n}` with
 * n > 2000 unbounded. `repeat()` therefore only repeats single symbols, and splits counts
 * above `DIRECT_LIMIT` into blocks of `BLOCK` so large maxLength/maxItems stay exact.
 */

const DIRECT_LIMIT = 1000;
const BLOCK = 100;

/** A code point range, inclusive. */
export type CodeRange = readonly [number, number];

function escapeCodePoint(cp: number, inClass: boolean): string {
  switch (cp) {
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x22:
      return '\\"';
    case 0x5c:
      return "\\\\";
  }
  if (inClass && (cp === 0x5d || cp === 0x5b || cp === 0x2d)) {
    return "\\" + String.fromCodePoint(cp);
  }
  // `\^` is no GBNF escape; a hex escape keeps a leading ^ from meaning negation.
  if (inClass && cp === 0x5e) return "\\x5e";
  if (cp >= 0x20 && cp < 0x7f) return String.fromCodePoint(cp);
  if (cp <= 0xff) return "\\x" + cp.toString(16).padStart(2, "0");
  if (cp <= 0xffff) return "\\u" + cp.toString(16).padStart(4, "0");
  return "\\U" + cp.toString(16).padStart(8, "0");
}

/** A GBNF string literal matching exactly `text` (non-ASCII written as escapes). */
export function gbnfLiteral(text: string): string {
  let s = '"';
  for (const ch of text) s += escapeCodePoint(ch.codePointAt(0)!, false);
  return s + '"';
}

/** A GBNF character class for the given ranges. */
export function gbnfCharClass(ranges: readonly CodeRange[], negated = false): string {
  let s = negated ? "[^" : "[";
  for (const [lo, hi] of ranges) {
    s += escapeCodePoint(lo, true);
    if (hi > lo) s += "-" + escapeCodePoint(hi, true);
  }
  return s + "]";
}

/** A valid rule name derived from arbitrary text (`[a-zA-Z0-9-]+`). */
export function ruleName(text: string): string {
  const s = text.replace(/[^a-zA-Z0-9-]+/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "");
  return s || "r";
}

/** True when `expr` is one GBNF symbol: a rule name, a literal or a character class. */
export function isSymbol(expr: string): boolean {
  return /^[a-zA-Z0-9-]+$/.test(expr) ||
    /^"(?:[^"\\]|\\.)*"$/.test(expr) ||
    /^\[(?:[^\]\\]|\\.)*\]$/.test(expr);
}

/** Wraps an expression in parentheses unless it is a single symbol. */
export function group(expr: string): string {
  return isSymbol(expr) ? expr : `(${expr})`;
}

/** Joins alternatives; an empty alternative (the empty string) is allowed. */
export function alternatives(alts: readonly string[]): string {
  const unique = [...new Set(alts)];
  return unique.length === 1 ? unique[0] : unique.map((a) => a || '""').join(" | ");
}

/** Raised when a count cannot be expressed within llama.cpp's repetition limits. */
export class RepetitionLimitError extends Error {}

/** A grammar under construction: named rules, rendered root first. */
export class GbnfBuilder {
  #rules = new Map<string, string | undefined>();

  /** `reserved` names are only given out by `addExact` (shared rules). */
  constructor(private readonly reserved: ReadonlySet<string> = new Set()) {}

  /** Adds a rule under exactly this name; it must be free or hold the same body. */
  addExact(name: string, body: string): string {
    const existing = this.#rules.get(name);
    if (existing !== undefined && existing !== body) {
      throw new Error(`rule ${name} already holds a different body`);
    }
    this.#rules.set(name, body);
    return name;
  }

  /** Whether the name is taken. */
  has(name: string): boolean {
    return this.#rules.has(name);
  }

  /** The body of a rule, if defined. */
  body(name: string): string | undefined {
    return this.#rules.get(name);
  }

  /**
   * Adds a rule and returns its name. The same name with the same body is shared; a
   * different body gets a numbered name.
   */
  add(name: string, body: string): string {
    const base = ruleName(name);
    for (let i = 0;; i++) {
      const n = i === 0 ? base : `${base}-${i}`;
      if (this.reserved.has(n)) continue;
      if (!this.#rules.has(n)) {
        this.#rules.set(n, body);
        return n;
      }
      if (this.#rules.get(n) === body) return n;
    }
  }

  /** Reserves a fresh name for a rule defined later (recursive references). */
  reserve(name: string): string {
    const base = ruleName(name);
    for (let i = 0;; i++) {
      const n = i === 0 ? base : `${base}-${i}`;
      if (!this.#rules.has(n) && !this.reserved.has(n)) {
        this.#rules.set(n, undefined);
        return n;
      }
    }
  }

  /** Defines a reserved rule. */
  define(name: string, body: string): void {
    if (this.#rules.get(name) !== undefined) throw new Error(`rule ${name} is already defined`);
    this.#rules.set(name, body);
  }

  /** A single symbol for `expr`: itself, or a new rule named after `hint`. */
  symbol(expr: string, hint: string): string {
    return isSymbol(expr) ? expr : this.add(hint, expr);
  }

  /**
   * `item` repeated min..max times (max may be Infinity), within llama.cpp's limits.
   * `item` may be any expression; it is turned into one symbol first.
   */
  repeat(item: string, min: number, max: number, hint: string): string {
    if (!(min >= 0 && max >= min)) throw new RangeError(`bad repetition ${min}..${max}`);
    if (max === 0) return "";
    const sym = this.symbol(item, hint);
    const parts: string[] = [];
    if (min > 0) parts.push(this.#exactly(sym, min, hint));
    const rest = max - min;
    if (rest === Infinity) parts.push(`${sym}*`);
    else if (rest > 0) parts.push(this.#upTo(sym, rest, hint));
    return parts.join(" ");
  }

  #block(sym: string, hint: string): string {
    return this.add(`${hint}-x${BLOCK}`, `${sym}{${BLOCK}}`);
  }

  #exactly(sym: string, n: number, hint: string): string {
    if (n === 1) return sym;
    if (n <= DIRECT_LIMIT) return `${sym}{${n}}`;
    const q = Math.floor(n / BLOCK);
    const r = n % BLOCK;
    if (q > DIRECT_LIMIT) throw new RepetitionLimitError(`count ${n} is too large`);
    const block = this.#block(sym, hint);
    return r === 0 ? `${block}{${q}}` : `${block}{${q}} ${sym}{${r}}`;
  }

  #upTo(sym: string, n: number, hint: string): string {
    if (n === 1) return `${sym}?`;
    if (n <= DIRECT_LIMIT) return `${sym}{0,${n}}`;
    const q = Math.floor(n / BLOCK);
    const r = n % BLOCK;
    if (q > DIRECT_LIMIT) throw new RepetitionLimitError(`count ${n} is too large`);
    const block = this.#block(sym, hint);
    // Fewer than q blocks and any remainder, or exactly q blocks and at most r more:
    // each length has one decomposition.
    const few = q === 1 ? `${sym}{0,${BLOCK - 1}}` : `${block}{0,${q - 1}} ${sym}{0,${BLOCK - 1}}`;
    const full = r === 0 ? `${block}{${q}}` : `${block}{${q}} ${sym}{0,${r}}`;
    return `(${few} | ${full})`;
  }

  /** The grammar text, `root` first. Throws if a reserved rule was never defined. */
  render(root: string): string {
    const lines: string[] = [];
    const rootBody = this.#rules.get(root);
    if (rootBody === undefined) throw new Error(`no rule ${root}`);
    lines.push(`${root} ::= ${rootBody || '""'}`);
    for (const [name, body] of this.#rules) {
      if (name === root) continue;
      if (body === undefined) throw new Error(`rule ${name} was reserved but never defined`);
      lines.push(`${name} ::= ${body || '""'}`);
    }
    return lines.join("\n") + "\n";
  }
}
