import assert from "node:assert/strict";
import { GbnfError, Grammar, seededRandom } from "./gbnf_interpreter.ts";

// llama.cpp's own grammars/json.gbnf (v0.4.0), to check the interpreter on a known grammar.
const JSON_GBNF = `root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\\"" (
    [^"\\\\\\x7F\\x00-\\x1F] |
    "\\\\" (["\\\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\\n" [ \\t]{0,20}
`;

Deno.test("interpreter: llama.cpp's json.gbnf accepts objects and rejects the rest", () => {
  const g = new Grammar(JSON_GBNF);
  for (const ok of ['{"a": [1, -2.5e3, "x\\n\\u00e9"], "b": {"c": null}}', "{}", '{"k":true}\n']) {
    assert.ok(g.matches(ok), ok);
  }
  for (const bad of ["[]", '{"a": }', '{"a": 01x}', '{"a": "\n"}', "{} {}", '{"a":1,}']) {
    assert.ok(!g.matches(bad), bad);
  }
  const rnd = seededRandom(7);
  for (let i = 0; i < 200; i++) {
    const s = g.sample(rnd);
    assert.ok(g.matches(s), s);
    assert.equal(typeof JSON.parse(s), "object", s);
  }
});

Deno.test("interpreter: repetition counts, classes, escapes", () => {
  const g = new Grammar('root ::= [a-c]{2,3} "\\x41" [^0-9\\]]? "\\u00e9"+\n');
  assert.ok(g.matches("abAé"));
  assert.ok(g.matches("abcA]éé") === false, "] is excluded from the negated class");
  assert.ok(g.matches("abcAxéé"));
  assert.ok(!g.matches("aAé"));
  assert.ok(!g.matches("abcdAé"));
  assert.ok(!g.matches("abA"));
});

Deno.test("interpreter: refuses what llama.cpp refuses", () => {
  const bad: [string, RegExp][] = [
    ['root ::= a\na ::= root "x" | "y"\n', /left recursion/],
    ['root ::= x? root "a" | "b"\nx ::= "x"\n', /left recursion/],
    ["root ::= missing\n", /undefined rule/],
    ['root ::= "a"{2001}\n', /limit/],
    ['root ::= "a"{0,2001}\n', /silently ignored/],
    ['root ::= "a"{0,2000}\n', /limit/],
    ['root ::= ("a" "b"?){0,1000}\n', /limit/],
    ['root ::= "\\q"\n', /unknown escape/],
    ['root ::= "a" root\n', /no finite string/],
  ];
  for (const [text, why] of bad) assert.throws(() => new Grammar(text), why, text);
  assert.throws(() => new Grammar('root ::= ("a"\n'), GbnfError);
  // Within the limits and right-recursive: fine.
  new Grammar('root ::= "a"{0,1999} | "b" root\n');
});
