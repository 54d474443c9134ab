import assert from "node:assert/strict";
import { GbnfBuilder } from "./gbnf.ts";
import { PRIMITIVE_NAMES } from "./primitives.ts";
import { PatternError, patternToGbnf, UNANCHORED_PREFIX_MAX } from "./regex.ts";
import { Grammar, seededRandom } from "./testing/gbnf_interpreter.ts";

function compile(pattern: string): Grammar {
  const b = new GbnfBuilder(PRIMITIVE_NAMES);
  b.add("root", patternToGbnf(b, pattern, "p"));
  return new Grammar(b.render("root"));
}

const CASES: [string, string[]][] = [
  ["^[A-Z]{3}-\\d{2,4}$", ["ABC-12", "ABC-1234", "AB-12", "ABC-12345", "abc-12", "ABC-12x"]],
  ["ab+c", ["abc", "xxabbbcyy", "ac", "", "ABC"]],
  ["^(?:foo|ba[rz])+$", ["foo", "barbaz", "foobar", "fo", "foobaq", ""]],
  ["^\\w+@\\w+\\.com$", ["a@b.com", "a_1@x.com", "a@b.org", "@b.com"]],
  ['^[^"\\\\]*$', ["plain", 'quo"te', "back\\slash", ""]],
  ["^\\s*\\S.*$", ["  x", "x", "   ", "\tab", "\u00a0y"]],
  ["^.{2}$", ["ab", "a\n", "é😀", "abc", "a"]],
  ["^[\\x41-\\x43\\u00e9]{1,2}?$", ["A", "Cé", "D", "ABC", ""]],
  ["^(a|)b$", ["ab", "b", "aab"]],
  ["^\\d{2}(:\\d{2}){0,2}$", ["12", "12:30", "12:30:45", "12:30:45:00", "1:30"]],
  ["^[a-f]{1,500}$", ["abc", "g", "a".repeat(500), "a".repeat(501)]],
  ["^x\\n\\ty$", ["x\n\ty", "x\\n\\ty"]],
];

Deno.test("patterns match exactly what RegExp matches (canonical JSON text)", () => {
  for (const [pattern, inputs] of CASES) {
    const g = compile(pattern);
    const re = new RegExp(pattern, "u");
    for (const s of inputs) {
      assert.equal(g.matches(JSON.stringify(s)), re.test(s), `${pattern} on ${JSON.stringify(s)}`);
    }
  }
});

Deno.test("every sampled string is valid JSON and matches the pattern", () => {
  const rnd = seededRandom(3);
  for (const [pattern] of CASES) {
    const g = compile(pattern);
    const re = new RegExp(pattern, "u");
    for (let i = 0; i < 150; i++) {
      const text = g.sample(rnd);
      const value = JSON.parse(text);
      assert.equal(typeof value, "string");
      assert.ok(re.test(value), `${pattern} produced ${text}`);
    }
  }
});

Deno.test("patterns outside the subset are refused with a reason", () => {
  for (
    const p of ["(?=a)b", "(a)\\1", "\\bword", "a^b", "\\p{L}", "(?<n>a)", "[", "a{2,1}", "a**"]
  ) {
    assert.throws(() => compile(p), PatternError, p);
  }
});

Deno.test("an unanchored match starts within a bounded lead-in, so the string can always end", () => {
  const g = compile("ab+c");
  const n = UNANCHORED_PREFIX_MAX;
  assert.ok(g.matches(JSON.stringify("x".repeat(n) + "abc" + "y".repeat(3 * n))));
  // Past the lead-in the match must begin: otherwise a model that never writes it never ends.
  assert.ok(!g.matches(JSON.stringify("x".repeat(n + 1) + "abc")));
  // An anchored start is unaffected; an unanchored end stays unbounded.
  assert.ok(compile("^ab+c").matches(JSON.stringify("abc" + "z".repeat(5 * n))));
});
