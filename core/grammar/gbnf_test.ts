import assert from "node:assert/strict";
import { GbnfBuilder, gbnfCharClass, gbnfLiteral, ruleName } from "./gbnf.ts";
import { Grammar } from "./testing/gbnf_interpreter.ts";

Deno.test("literals and classes escape what GBNF needs", () => {
  const text = 'a"b\\c\nd\te\r-]^[é😀\u0001';
  const b = new GbnfBuilder();
  b.add("root", gbnfLiteral(text));
  b.add("cls", gbnfCharClass([[0x5d, 0x5e], [0x2d, 0x2d], [0x22, 0x22], [0x1f600, 0x1f600]]));
  const g = new Grammar(b.render("root"));
  assert.ok(g.matches(text));
  assert.ok(!g.matches(text.slice(1)));
  const cls = new Grammar(
    `root ::= ${gbnfCharClass([[0x5d, 0x5e], [0x2d, 0x2d], [0x22, 0x22]])}+\n`,
  );
  assert.ok(cls.matches(']^-"'));
  assert.ok(!cls.matches("a"));
  assert.match(gbnfLiteral("é"), /^"\\xe9"$/);
});

Deno.test("rule names are sanitized and kept apart", () => {
  assert.equal(ruleName("#/$defs/my_type.v2"), "defs-my-type-v2");
  const b = new GbnfBuilder(new Set(["string"]));
  assert.equal(b.add("x", '"1"'), "x");
  assert.equal(b.add("x", '"1"'), "x", "same body shares the rule");
  assert.equal(b.add("x", '"2"'), "x-1");
  assert.equal(b.add("string", '"s"'), "string-1", "reserved names are left free");
  assert.equal(b.addExact("string", '"s"'), "string");
  assert.throws(() => b.addExact("string", '"t"'));
  const r = b.reserve("later");
  assert.throws(() => b.render("x"), /never defined/);
  b.define(r, '"l"');
  assert.ok(b.render("x").startsWith("x ::="));
});

Deno.test("repeat() stays within llama.cpp's limits and exact for large counts", () => {
  for (
    const [min, max] of [[0, 5], [3, 3], [0, 1], [1, Infinity], [1500, 2550], [0, 1234], [
      2048,
      2048,
    ]]
  ) {
    const b = new GbnfBuilder();
    b.add("root", b.repeat('"a"', min, max, "r") || '""');
    const g = new Grammar(b.render("root")); // throws if beyond llama.cpp's limits
    const probe = [min - 1, min, min + 1, max - 1, max, max + 1, 99, 100, 101, 1099, 1100, 1101];
    for (const n of probe) {
      if (n < 0 || n > 3000) continue;
      assert.equal(g.matches("a".repeat(n)), n >= min && n <= max, `${n} in [${min}, ${max}]`);
    }
  }
});
