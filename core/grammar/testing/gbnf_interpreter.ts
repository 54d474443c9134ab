/**
 * Test support: a small GBNF interpreter. It parses grammar text the way llama.cpp v0.4.0
 * does (src/llama-grammar.cpp: escapes, repetition limits, undefined rules, left
 * recursion), decides whether a string matches, and samples random matching strings the
 * way a random-weight model under the grammar sampler would.
 */

type Node =
  | { t: "chars"; ranges: [number, number][]; negated: boolean }
  | { t: "any" }
  | { t: "ref"; name: string }
  | { t: "alt"; alts: Node[][] }
  | { t: "rep"; node: Node; min: number; max: number };

export class GbnfError extends Error {}

const REPETITION_LIMIT = 2000; // MAX_REPETITION_THRESHOLD

class GbnfParser {
  i = 0;
  /** symbols generated so far, counted like llama.cpp's symbol_ids */
  generated = 0;
  rules = new Map<string, Node[][]>();
  refs = new Set<string>();
  /** rule names met so far: llama.cpp gives each a symbol id on first sight */
  names = new Set<string>();

  constructor(readonly src: string) {}

  fail(why: string): never {
    const line = this.src.slice(0, this.i).split("\n").length;
    throw new GbnfError(
      `${why} (line ${line}: ${JSON.stringify(this.src.slice(this.i, this.i + 30))})`,
    );
  }

  space(newlineOk: boolean): void {
    for (;;) {
      const c = this.src[this.i];
      if (c === " " || c === "\t" || (newlineOk && (c === "\n" || c === "\r"))) this.i++;
      else if (c === "#") {
        while (this.i < this.src.length && this.src[this.i] !== "\n" && this.src[this.i] !== "\r") {
          this.i++;
        }
      } else return;
    }
  }

  name(): string {
    const m = /^[a-zA-Z0-9-]+/.exec(this.src.slice(this.i));
    if (!m) this.fail("expecting name");
    this.i += m[0].length;
    if (!this.names.has(m[0])) {
      this.names.add(m[0]);
      this.generated++;
    }
    return m[0];
  }

  char(): number {
    const s = this.src;
    if (s[this.i] === "\\") {
      const c = s[this.i + 1];
      const hex = (n: number) => {
        const h = s.slice(this.i + 2, this.i + 2 + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) this.fail(`expecting ${n} hex chars`);
        this.i += 2 + n;
        return parseInt(h, 16);
      };
      switch (c) {
        case "x":
          return hex(2);
        case "u":
          return hex(4);
        case "U":
          return hex(8);
        case "t":
          this.i += 2;
          return 9;
        case "r":
          this.i += 2;
          return 13;
        case "n":
          this.i += 2;
          return 10;
        case "\\":
        case '"':
        case "[":
        case "]":
        case "-":
          this.i += 2;
          return c.charCodeAt(0);
        default:
          this.fail("unknown escape");
      }
    }
    if (this.i >= s.length) this.fail("unexpected end of input");
    const cp = s.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return cp;
  }

  alternates(nested: boolean): Node[][] {
    const alts = [this.sequence(nested)];
    while (this.src[this.i] === "|") {
      this.i++;
      this.space(true);
      alts.push(this.sequence(nested));
    }
    return alts;
  }

  sequence(nested: boolean): Node[] {
    const seq: Node[] = [];
    let prevRules = 1;
    const repeat = (min: number, max: number) => {
      if (!seq.length) this.fail("expecting preceding item to */+/?/{");
      const noMax = max === Infinity;
      const total = !noMax && max > 0 ? max : min > 0 ? min : 1;
      if (prevRules * total >= REPETITION_LIMIT) this.fail("repetition exceeds llama.cpp's limit");
      this.generated += noMax ? 1 : max - min;
      prevRules *= total;
      seq.push({ t: "rep", node: seq.pop()!, min, max });
    };
    for (;;) {
      const c = this.src[this.i];
      if (c === '"') {
        this.i++;
        const lit: Node[] = [];
        while (this.src[this.i] !== '"') {
          if (this.i >= this.src.length) this.fail("unterminated literal");
          const cp = this.char();
          lit.push({ t: "chars", ranges: [[cp, cp]], negated: false });
        }
        this.i++;
        // A literal is one symbol for repetition purposes.
        seq.push(lit.length === 1 ? lit[0] : { t: "alt", alts: [lit] });
        prevRules = 1;
        this.space(nested);
      } else if (c === "[") {
        this.i++;
        const negated = this.src[this.i] === "^";
        if (negated) this.i++;
        const ranges: [number, number][] = [];
        while (this.src[this.i] !== "]") {
          if (this.i >= this.src.length) this.fail("unterminated class");
          const lo = this.char();
          let hi = lo;
          if (this.src[this.i] === "-" && this.src[this.i + 1] !== "]") {
            this.i++;
            hi = this.char();
          }
          ranges.push([lo, hi]);
        }
        this.i++;
        seq.push({ t: "chars", ranges, negated });
        prevRules = 1;
        this.space(nested);
      } else if (c !== undefined && /[a-zA-Z0-9-]/.test(c)) {
        const name = this.name();
        this.refs.add(name);
        seq.push({ t: "ref", name });
        prevRules = 1;
        this.space(nested);
      } else if (c === "(") {
        this.i++;
        this.space(true);
        const before = this.generated;
        this.generated++;
        const alts = this.alternates(true);
        prevRules = Math.max(1, this.generated - before);
        if (this.src[this.i] !== ")") this.fail("expecting ')'");
        this.i++;
        seq.push({ t: "alt", alts });
        this.space(nested);
      } else if (c === ".") {
        this.i++;
        seq.push({ t: "any" });
        prevRules = 1;
        this.space(nested);
      } else if (c === "*" || c === "+" || c === "?") {
        this.i++;
        this.space(nested);
        if (c === "*") repeat(0, Infinity);
        else if (c === "+") repeat(1, Infinity);
        else repeat(0, 1);
      } else if (c === "{") {
        const m = /^\{\s*(\d+)\s*(?:(,)\s*(\d+)?\s*)?\}/.exec(this.src.slice(this.i));
        if (!m) this.fail("bad repetition");
        this.i += m[0].length;
        this.space(nested);
        const min = Number(m[1]);
        const max = m[2] === undefined ? min : m[3] === undefined ? Infinity : Number(m[3]);
        if (min > REPETITION_LIMIT) this.fail("repetition count exceeds llama.cpp's limit");
        // llama.cpp silently drops such a maximum; our grammars must never rely on that.
        if (max !== Infinity && max > REPETITION_LIMIT) {
          this.fail("maximum silently ignored by llama.cpp");
        }
        repeat(min, max);
      } else {
        return seq;
      }
    }
  }

  grammar(): Map<string, Node[][]> {
    this.space(true);
    while (this.i < this.src.length) {
      const name = this.name();
      this.space(false);
      if (!this.src.startsWith("::=", this.i)) this.fail("expecting ::=");
      this.i += 3;
      this.space(true);
      if (this.rules.has(name)) this.fail(`rule ${name} defined twice`);
      this.rules.set(name, this.alternates(false));
      const c = this.src[this.i];
      if (c === "\r") this.i += this.src[this.i + 1] === "\n" ? 2 : 1;
      else if (c === "\n") this.i++;
      else if (c !== undefined) this.fail("expecting newline or end");
      this.space(true);
    }
    for (const r of this.refs) if (!this.rules.has(r)) throw new GbnfError(`undefined rule ${r}`);
    return this.rules;
  }
}

function inClass(n: Extract<Node, { t: "chars" }>, cp: number): boolean {
  const hit = n.ranges.some(([lo, hi]) => lo <= cp && cp <= hi);
  return n.negated ? !hit : hit;
}

/** A parsed grammar: match strings against it, or sample strings from it. */
export class Grammar {
  readonly rules: Map<string, Node[][]>;
  #nullable = new Map<string, boolean>();
  #minLen = new Map<string, number>();

  constructor(text: string) {
    this.rules = new GbnfParser(text).grammar();
    this.#computeNullable();
    this.#checkLeftRecursion();
    this.#computeMinLength();
  }

  // --- analysis -------------------------------------------------------------------------

  #nodeNullable(n: Node): boolean {
    switch (n.t) {
      case "chars":
      case "any":
        return false;
      case "ref":
        return this.#nullable.get(n.name) ?? false;
      case "alt":
        return n.alts.some((seq) => seq.every((x) => this.#nodeNullable(x)));
      case "rep":
        return n.min === 0 || this.#nodeNullable(n.node);
    }
  }

  #computeNullable(): void {
    for (let changed = true; changed;) {
      changed = false;
      for (const [name, alts] of this.rules) {
        if (this.#nullable.get(name)) continue;
        if (alts.some((seq) => seq.every((x) => this.#nodeNullable(x)))) {
          this.#nullable.set(name, true);
          changed = true;
        }
      }
    }
  }

  /** Rules reachable at the start of `n` (through nullable prefixes). */
  #leftRefs(n: Node, out: Set<string>): void {
    switch (n.t) {
      case "ref":
        out.add(n.name);
        return;
      case "alt":
        for (const seq of n.alts) {
          for (const x of seq) {
            this.#leftRefs(x, out);
            if (!this.#nodeNullable(x)) break;
          }
        }
        return;
      case "rep":
        this.#leftRefs(n.node, out);
        return;
      default:
        return;
    }
  }

  #checkLeftRecursion(): void {
    const edges = new Map<string, Set<string>>();
    for (const [name, alts] of this.rules) {
      const out = new Set<string>();
      this.#leftRefs({ t: "alt", alts }, out);
      edges.set(name, out);
    }
    const state = new Map<string, 1 | 2>();
    const visit = (r: string, path: string[]) => {
      if (state.get(r) === 2) return;
      if (state.get(r) === 1) throw new GbnfError(`left recursion: ${[...path, r].join(" -> ")}`);
      state.set(r, 1);
      for (const next of edges.get(r) ?? []) visit(next, [...path, r]);
      state.set(r, 2);
    };
    for (const r of this.rules.keys()) visit(r, []);
  }

  #nodeMin(n: Node): number {
    switch (n.t) {
      case "chars":
      case "any":
        return 1;
      case "ref":
        return this.#minLen.get(n.name) ?? Infinity;
      case "alt":
        return Math.min(...n.alts.map((seq) => seq.reduce((a, x) => a + this.#nodeMin(x), 0)));
      case "rep":
        return n.min === 0 ? 0 : n.min * this.#nodeMin(n.node);
    }
  }

  #computeMinLength(): void {
    for (let changed = true; changed;) {
      changed = false;
      for (const [name, alts] of this.rules) {
        const m = this.#nodeMin({ t: "alt", alts });
        if (m < (this.#minLen.get(name) ?? Infinity)) {
          this.#minLen.set(name, m);
          changed = true;
        }
      }
    }
    for (const [name] of this.rules) {
      if (!Number.isFinite(this.#minLen.get(name) ?? Infinity)) {
        throw new GbnfError(`rule ${name} matches no finite string`);
      }
    }
  }

  // --- matching -------------------------------------------------------------------------

  /** Does the whole of `text` match rule `root`? */
  matches(text: string, root = "root"): boolean {
    const cps = Array.from(text, (c) => c.codePointAt(0)!);
    const memo = new Map<string, Set<number>>();
    const ends = (n: Node, pos: number): Set<number> => {
      switch (n.t) {
        case "chars":
          return pos < cps.length && inClass(n, cps[pos]) ? new Set([pos + 1]) : new Set();
        case "any":
          return pos < cps.length ? new Set([pos + 1]) : new Set();
        case "ref": {
          const key = `${n.name}@${pos}`;
          const hit = memo.get(key);
          if (hit) return hit;
          const out = new Set<number>();
          memo.set(key, out); // no left recursion, so no re-entry at this position
          for (const e of ends({ t: "alt", alts: this.rules.get(n.name)! }, pos)) out.add(e);
          return out;
        }
        case "alt": {
          const out = new Set<number>();
          for (const seq of n.alts) {
            let cur = new Set([pos]);
            for (const x of seq) {
              const next = new Set<number>();
              for (const p of cur) for (const e of ends(x, p)) next.add(e);
              cur = next;
              if (!cur.size) break;
            }
            for (const e of cur) out.add(e);
          }
          return out;
        }
        case "rep": {
          const out = new Set<number>();
          let frontier = new Set([pos]);
          const seen = new Set<string>();
          for (let count = 0; frontier.size; count++) {
            if (count >= n.min) { for (const p of frontier) out.add(p); }
            if (count >= n.max) break;
            const next = new Set<number>();
            for (const p of frontier) {
              for (const e of ends(n.node, p)) {
                const key = count + 1 >= n.min ? `${e}` : `${count + 1}:${e}`;
                if (!seen.has(key)) {
                  seen.add(key);
                  next.add(e);
                }
              }
            }
            frontier = next;
          }
          return out;
        }
      }
    };
    if (!this.rules.has(root)) throw new GbnfError(`no rule ${root}`);
    return ends({ t: "ref", name: root }, 0).has(cps.length);
  }

  // --- sampling -------------------------------------------------------------------------

  /**
   * A random string of the grammar. Past `depth` nested choices it steers to the shortest
   * alternatives so it terminates; `chars` is the pool negated classes draw from.
   */
  sample(random: () => number, opts: { root?: string; depth?: number } = {}): string {
    const pool = [
      ...Array.from({ length: 95 }, (_, i) => 0x20 + i),
      0x09,
      0x0a,
      0xe9,
      0x4e2d,
      0x2028,
      0x1f600,
    ];
    const maxDepth = opts.depth ?? 6;
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
    let out = "";
    const seqMin = (seq: Node[]) => seq.reduce((a, x) => a + this.#nodeMin(x), 0);
    const gen = (n: Node, depth: number): void => {
      switch (n.t) {
        case "chars": {
          if (n.negated) {
            out += String.fromCodePoint(pick(pool.filter((cp) => inClass(n, cp))));
          } else {
            const [lo, hi] = pick(n.ranges);
            const span = Math.min(hi - lo, 200);
            let cp = lo + Math.floor(random() * (span + 1));
            if (cp >= 0xd800 && cp <= 0xdfff) cp = lo;
            out += String.fromCodePoint(cp);
          }
          return;
        }
        case "any":
          out += String.fromCodePoint(pick(pool));
          return;
        case "ref":
          return gen({ t: "alt", alts: this.rules.get(n.name)! }, depth + 1);
        case "alt": {
          let alts = n.alts;
          if (depth > maxDepth) {
            const best = Math.min(...alts.map(seqMin));
            alts = alts.filter((s) => seqMin(s) === best);
          }
          for (const x of pick(alts)) gen(x, depth);
          return;
        }
        case "rep": {
          const extra = depth > maxDepth ? 0 : Math.floor(random() * 4);
          const count = Math.min(n.min + extra, n.max);
          for (let i = 0; i < count; i++) gen(n.node, depth + 1);
          return;
        }
      }
    };
    gen({ t: "ref", name: opts.root ?? "root" }, 0);
    return out;
  }
}

/** A seeded pseudo-random source (mulberry32), for repeatable samples. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
