/**
 * A safe subset of JSON Schema `pattern` (ECMAScript regex, `u` flag) as GBNF over the JSON
 * text of a string: literals, `.`, classes (`[a-z]`, `[^…]`, `\d \w \s` and negations),
 * groups `(…)` / `(?:…)`, `|`, quantifiers `* + ? {n} {n,} {n,m}` (lazy or not), and `^`/`$`
 * at the ends of top-level alternatives. A missing anchor means the match may be
 * surrounded by anything, as in JSON Schema, except that a missing `^` lets the match start
 * within the first `UNANCHORED_PREFIX_MAX` characters only (a subset): the string cannot
 * close before the match is written, and with an unbounded lead-in a model that does not
 * happen to write it (a random-weight one never does) would run until max_tokens.
 *
 * Everything else (backreferences, lookaround, `\b`, `\p{…}`, anchors inside) raises
 * `PatternError`. Characters JSON must escape are written escaped.
 */
import {
  alternatives,
  type CodeRange,
  type GbnfBuilder,
  gbnfCharClass,
  gbnfLiteral,
} from "./gbnf.ts";
import { primitive } from "./primitives.ts";

export class PatternError extends Error {}

/** How many characters may come before the match of a pattern without a leading `^`. */
export const UNANCHORED_PREFIX_MAX = 32;

type Node =
  | { t: "set"; ranges: CodeRange[] }
  | { t: "alt"; alts: Node[][] }
  | { t: "rep"; node: Node; min: number; max: number };

const MAX_CP = 0x10ffff;
const LINE_TERMINATORS: CodeRange[] = [[0x0a, 0x0a], [0x0d, 0x0d], [0x2028, 0x2029]];
const DIGIT: CodeRange[] = [[0x30, 0x39]];
const WORD: CodeRange[] = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];
const SPACE: CodeRange[] = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];
const SURROGATES: CodeRange = [0xd800, 0xdfff];
const SYNTAX = "^$\\.*+?()[]{}|/-";

function normalize(ranges: CodeRange[]): CodeRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function complement(ranges: CodeRange[]): CodeRange[] {
  const out: CodeRange[] = [];
  let next = 0;
  for (const [lo, hi] of normalize(ranges)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CP) out.push([next, MAX_CP]);
  return out;
}

function subtract(ranges: CodeRange[], remove: CodeRange[]): CodeRange[] {
  const keep = complement(remove);
  const out: CodeRange[] = [];
  for (const [a, b] of normalize(ranges)) {
    for (const [c, d] of keep) {
      const lo = Math.max(a, c);
      const hi = Math.min(b, d);
      if (lo <= hi) out.push([lo, hi]);
    }
  }
  return out;
}

class Parser {
  i = 0;
  constructor(readonly src: string) {}

  fail(why: string): never {
    throw new PatternError(`${why} at position ${this.i}`);
  }

  peek(): string | undefined {
    return this.src[this.i];
  }

  /** Top level: alternatives with optional ^ / $ at their ends. */
  top(): { seq: Node[]; start: boolean; end: boolean }[] {
    const out: { seq: Node[]; start: boolean; end: boolean }[] = [];
    for (;;) {
      const start = this.peek() === "^";
      if (start) this.i++;
      const seq = this.sequence(true);
      let end = false;
      if (this.peek() === "$") {
        this.i++;
        end = true;
      }
      out.push({ seq, start, end });
      if (this.peek() === "|") {
        this.i++;
        continue;
      }
      if (this.i < this.src.length) this.fail(`unsupported ${JSON.stringify(this.peek())}`);
      return out;
    }
  }

  sequence(top: boolean): Node[] {
    const seq: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === "|" || c === ")") return seq;
      if (c === "$" && top && (this.i === this.src.length - 1 || this.src[this.i + 1] === "|")) {
        return seq;
      }
      const atom = this.atom();
      seq.push(this.quantified(atom));
    }
  }

  quantified(node: Node): Node {
    const c = this.peek();
    let min: number;
    let max: number;
    if (c === "*") [min, max] = [0, Infinity];
    else if (c === "+") [min, max] = [1, Infinity];
    else if (c === "?") [min, max] = [0, 1];
    else if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
      if (!m) this.fail("unsupported '{'");
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
      if (max < min) this.fail("bad repetition");
      this.i += m[0].length - 1;
    } else return node;
    this.i++;
    if (this.peek() === "?") this.i++; // lazy: same language
    const q = this.peek();
    if (q === "*" || q === "+" || q === "?" || q === "{") this.fail("nested quantifier");
    return { t: "rep", node, min, max };
  }

  atom(): Node {
    const c = this.src[this.i];
    if (c === "(") {
      this.i++;
      if (this.src.startsWith("?:", this.i)) this.i += 2;
      else if (this.peek() === "?") this.fail("unsupported group (lookaround or named)");
      const alts: Node[][] = [this.sequence(false)];
      while (this.peek() === "|") {
        this.i++;
        alts.push(this.sequence(false));
      }
      if (this.peek() !== ")") this.fail("unclosed group");
      this.i++;
      return { t: "alt", alts };
    }
    if (c === "[") return this.charClass();
    if (c === ".") {
      this.i++;
      return { t: "set", ranges: complement(LINE_TERMINATORS) };
    }
    if (c === "\\") return { t: "set", ranges: this.escape(false) };
    if ("^$*+?{}])|".includes(c)) this.fail(`unsupported ${JSON.stringify(c)}`);
    const cp = this.src.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return { t: "set", ranges: [[cp, cp]] };
  }

  /** After a backslash: the set it stands for. */
  escape(inClass: boolean): CodeRange[] {
    this.i++; // the backslash
    const c = this.src[this.i];
    if (c === undefined) this.fail("trailing backslash");
    this.i++;
    switch (c) {
      case "d":
        return DIGIT;
      case "D":
        return complement(DIGIT);
      case "w":
        return WORD;
      case "W":
        return complement(WORD);
      case "s":
        return SPACE;
      case "S":
        return complement(SPACE);
      case "t":
        return [[0x09, 0x09]];
      case "n":
        return [[0x0a, 0x0a]];
      case "r":
        return [[0x0d, 0x0d]];
      case "f":
        return [[0x0c, 0x0c]];
      case "v":
        return [[0x0b, 0x0b]];
      case "0":
        if (/[0-9]/.test(this.peek() ?? "")) this.fail("unsupported octal escape");
        return [[0, 0]];
      case "b":
        if (inClass) return [[0x08, 0x08]];
        return this.fail("unsupported word boundary \\b");
      case "x": {
        const m = /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.i));
        if (!m) this.fail("bad \\x escape");
        this.i += 2;
        const cp = parseInt(m[0], 16);
        return [[cp, cp]];
      }
      case "u": {
        const m = /^(?:\{([0-9a-fA-F]{1,6})\}|([0-9a-fA-F]{4}))/.exec(this.src.slice(this.i));
        if (!m) this.fail("bad \\u escape");
        this.i += m[0].length;
        const cp = parseInt(m[1] ?? m[2], 16);
        if (cp > MAX_CP) this.fail("bad \\u escape");
        return [[cp, cp]];
      }
    }
    if (SYNTAX.includes(c)) {
      const cp = c.codePointAt(0)!;
      return [[cp, cp]];
    }
    return this.fail(`unsupported escape \\${c}`);
  }

  charClass(): Node {
    this.i++; // [
    const negated = this.peek() === "^";
    if (negated) this.i++;
    const ranges: CodeRange[] = [];
    while (this.peek() !== "]") {
      if (this.peek() === undefined) this.fail("unclosed class");
      const lo = this.classAtom();
      if (
        this.peek() === "-" && this.src[this.i + 1] !== "]" && this.src[this.i + 1] !== undefined
      ) {
        this.i++;
        const hi = this.classAtom();
        if (lo.length !== 1 || hi.length !== 1 || lo[0][0] !== lo[0][1] || hi[0][0] !== hi[0][1]) {
          this.fail("class range with a class escape");
        }
        if (hi[0][0] < lo[0][0]) this.fail("bad class range");
        ranges.push([lo[0][0], hi[0][0]]);
      } else {
        ranges.push(...lo);
      }
    }
    this.i++; // ]
    return { t: "set", ranges: negated ? complement(ranges) : normalize(ranges) };
  }

  classAtom(): CodeRange[] {
    if (this.peek() === "\\") return this.escape(true);
    if (this.peek() === "[") this.fail("unsupported '[' inside a class");
    const cp = this.src.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return [[cp, cp]];
  }
}

/** GBNF for the JSON text of one character from `ranges`. */
function encodeSet(ranges: CodeRange[]): string {
  const set = subtract(ranges, [SURROGATES]);
  const alts: string[] = [];
  // Characters JSON lets through raw.
  const raw = subtract(set, [[0x00, 0x1f], [0x22, 0x22], [0x5c, 0x5c], [0x7f, 0x7f]]);
  if (raw.length) alts.push(gbnfCharClass(raw));
  const has = (cp: number) => set.some(([lo, hi]) => lo <= cp && cp <= hi);
  if (has(0x22)) alts.push(gbnfLiteral('\\"'));
  if (has(0x5c)) alts.push(gbnfLiteral("\\\\"));
  for (const cp of [...Array(0x20).keys(), 0x7f]) {
    if (has(cp)) alts.push(gbnfLiteral(JSON.stringify(String.fromCharCode(cp)).slice(1, -1)));
  }
  if (!alts.length) throw new PatternError("a character class matches nothing");
  return alternatives(alts);
}

class Writer {
  constructor(readonly b: GbnfBuilder, readonly hint: string) {}

  seq(nodes: Node[]): string {
    return nodes.map((n) => this.node(n)).filter((s) => s !== "").join(" ");
  }

  node(n: Node): string {
    switch (n.t) {
      case "set": {
        const e = encodeSet(n.ranges);
        return e.includes(" | ") ? `(${e})` : e;
      }
      case "alt": {
        const body = alternatives(n.alts.map((a) => this.seq(a)));
        return body === "" ? "" : `(${body})`;
      }
      case "rep": {
        const inner = this.node(n.node);
        if (!inner) return "";
        return this.b.repeat(inner, n.min, n.max, `${this.hint}-p`);
      }
    }
  }
}

/**
 * GBNF for a JSON string (quotes included) whose value matches `pattern`. Throws
 * `PatternError` for anything outside the supported subset.
 */
export function patternToGbnf(b: GbnfBuilder, pattern: string, hint: string): string {
  try {
    new RegExp(pattern, "u");
  } catch (e) {
    throw new PatternError(`not a valid regular expression: ${(e as Error).message}`);
  }
  const top = new Parser(pattern).top();
  const w = new Writer(b, hint);
  const anyChar = primitive(b, "char");
  const leadIn = b.repeat(anyChar, 0, UNANCHORED_PREFIX_MAX, `${hint}-lead`);
  const alts = top.map(({ seq, start, end }) => {
    const parts = [start ? "" : leadIn, w.seq(seq), end ? "" : `${anyChar}*`];
    return parts.filter((p) => p !== "").join(" ");
  });
  const body = alternatives(alts);
  return `"\\"" ${body.includes(" | ") ? `(${body})` : body || '""'} "\\""`;
}
