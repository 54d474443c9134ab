/**
 * The shared rules: whitespace, JSON scalars, any-value, and the string formats we can
 * express exactly (or as a strict subset of what the format allows).
 */
import { type CodeRange, type GbnfBuilder, gbnfCharClass } from "./gbnf.ts";

/**
 * Optional whitespace between JSON tokens, capped (one or two newlines and up to 20 spaces or
 * tabs, the same limit as llama.cpp's converter) so a model cannot loop in whitespace.
 */
export const SPACE_RULE = '| " " | "\\n"{1,2} [ \\t]{0,20}';

/**
 * Code points a JSON string holds unescaped: Unicode scalar values other than the quote, the
 * backslash, controls and DEL.
 */
const RAW_STRING_CHARS: CodeRange[] = [
  [0x20, 0x21],
  [0x23, 0x5b],
  [0x5d, 0x7e],
  [0x80, 0xd7ff],
  [0xe000, 0x10ffff],
];

/**
 * A class of unescaped JSON string characters, minus the code points in `except`.
 *
 * Written as positive ranges, never `[^…]`: llama.cpp reads UTF-8 leniently (any 0xF0–0xFF
 * lead takes three continuation bytes) and a negated class also matches the surrogates and
 * values above U+10FFFF it makes of invalid bytes. Those reach the text as U+FFFD, one per
 * bad byte, so a random model's string could break maxLength, or hold bytes no valid
 * document has. Bounded ranges make the sampler refuse such bytes at their first one.
 */
export function rawCharClass(except: readonly number[] = []): string {
  return charClassExcept(RAW_STRING_CHARS, except);
}

/** A GBNF class of the code points in `allowed` minus those in `except`, as positive ranges. */
export function charClassExcept(
  allowed: readonly CodeRange[],
  except: readonly number[],
): string {
  const ranges: CodeRange[] = [];
  for (const [lo, hi] of allowed) {
    let from = lo;
    for (const cp of [...except].sort((a, b) => a - b)) {
      if (cp < from || cp > hi) continue;
      if (cp > from) ranges.push([from, cp - 1]);
      from = cp + 1;
    }
    if (from <= hi) ranges.push([from, hi]);
  }
  return gbnfCharClass(ranges);
}

interface Primitive {
  body: string;
  deps: string[];
}

const PRIMITIVES: Record<string, Primitive> = {
  space: { body: SPACE_RULE, deps: [] },
  boolean: { body: '"true" | "false"', deps: [] },
  null: { body: '"null"', deps: [] },
  "integral-part": { body: "[0] | [1-9] [0-9]{0,15}", deps: [] },
  "decimal-part": { body: "[0-9]{1,16}", deps: [] },
  // Exponents capped at two digits keep every number finite for JSON.parse.
  number: {
    body: '"-"? integral-part ("." decimal-part)? ([eE] [-+]? [0-9]{1,2})?',
    deps: ["integral-part", "decimal-part"],
  },
  integer: { body: '"-"? integral-part', deps: ["integral-part"] },
  hex: { body: "[0-9a-fA-F]", deps: [] },
  // One `char` is one code point: \u escapes are either a non-surrogate or a valid pair,
  // so minLength/maxLength count the way JSON Schema validators do.
  "unicode-escape": {
    body:
      '[0-9a-cA-CeEfF] hex{3} | [dD] [0-7] hex{2} | [dD] [89abAB] hex{2} "\\\\u" [dD] [c-fC-F] hex{2}',
    deps: ["hex"],
  },
  char: {
    body: `${rawCharClass()} | "\\\\" (["\\\\/bfnrt] | "u" unicode-escape)`,
    deps: ["unicode-escape"],
  },
  string: { body: '"\\"" char* "\\""', deps: ["char"] },
  value: {
    body: "object | array | string | number | boolean | null",
    deps: ["object", "array", "string", "number", "boolean", "null"],
  },
  object: {
    body:
      '"{" space ( string space ":" space value ( space "," space string space ":" space value )* space )? "}"',
    deps: ["space", "string", "value"],
  },
  array: {
    body: '"[" space ( value ( space "," space value )* space )? "]"',
    deps: ["space", "value"],
  },

  // String formats (the text inside the quotes).
  "date-year": { body: "[0-9]{4}", deps: [] },
  "date-leap-year": {
    body: "[0-9]{2} ([02468] [48] | [2468] [0] | [13579] [26]) | ([02468] [048] | [13579] [26]) " +
      '"00"',
    deps: [],
  },
  date: {
    body: 'date-year "-" ( ("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01])' +
      ' | ("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30")' +
      ' | "02-" ("0" [1-9] | "1" [0-9] | "2" [0-8]) ) | date-leap-year "-02-29"',
    deps: ["date-year", "date-leap-year"],
  },
  time: {
    body: '([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,9})?' +
      ' ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])',
    deps: [],
  },
  "date-time": { body: 'date "T" time', deps: ["date", "time"] },
  uuid: {
    body: 'hex{8} "-" hex{4} "-" hex{4} "-" hex{4} "-" hex{12}',
    deps: ["hex"],
  },
  "ipv4-octet": {
    body: '"25" [0-5] | "2" [0-4] [0-9] | "1" [0-9]{2} | [1-9] [0-9] | [0-9]',
    deps: [],
  },
  ipv4: { body: 'ipv4-octet "." ipv4-octet "." ipv4-octet "." ipv4-octet', deps: ["ipv4-octet"] },
  "dns-label": { body: "[a-zA-Z0-9] ([a-zA-Z0-9-]{0,61} [a-zA-Z0-9])?", deps: [] },
  email: {
    body: '[a-zA-Z0-9_+-]+ ("." [a-zA-Z0-9_+-]+)* "@" dns-label ("." dns-label)+',
    deps: ["dns-label"],
  },
  "uri-char": { body: '[a-zA-Z0-9._~!$&\'()*+,;=:@-] | "%" hex hex', deps: ["hex"] },
  uri: {
    body: '[a-zA-Z] [a-zA-Z0-9+.-]{0,20} "://" dns-label ("." dns-label)* (":" [0-9]{1,5})?' +
      ' ("/" uri-char*)* ("?" (uri-char | [/?])*)? ("#" (uri-char | [/?])*)?',
    deps: ["dns-label", "uri-char"],
  },
};

/**
 * String formats we generate. Each produces only strings the format accepts (for `email`
 * and `uri`, a common subset of them).
 */
export const STRING_FORMATS = new Set([
  "date",
  "time",
  "date-time",
  "uuid",
  "ipv4",
  "email",
  "uri",
]);

/** Names of the shared rules; a builder keeps them free for `primitive()`. */
export const PRIMITIVE_NAMES: ReadonlySet<string> = new Set(Object.keys(PRIMITIVES));

/** Adds a shared rule (and what it uses) and returns its name. */
export function primitive(b: GbnfBuilder, name: string): string {
  const p = PRIMITIVES[name];
  if (!p) throw new Error(`unknown primitive ${name}`);
  if (b.body(name) === undefined) {
    b.addExact(name, p.body);
    for (const dep of p.deps) primitive(b, dep);
  }
  return name;
}
