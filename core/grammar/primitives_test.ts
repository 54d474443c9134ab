import assert from "node:assert/strict";
import { GbnfBuilder } from "./gbnf.ts";
import { primitive, PRIMITIVE_NAMES, rawCharClass } from "./primitives.ts";
import { Grammar } from "./testing/gbnf_interpreter.ts";

Deno.test("raw string characters: scalar values JSON holds unescaped, minus the exceptions", () => {
  const g = new Grammar(`root ::= ${rawCharClass([0x61, 0x10ffff])}\n`);
  for (const ok of ["b", " ", "~", "\u0080", "é", "\ud7ff", "\ue000", "😀", "\u{10fffe}"]) {
    assert.ok(g.matches(ok), JSON.stringify(ok));
  }
  for (const bad of ["a", "\u{10ffff}", '"', "\\", "\n", "\u001f", "\u007f"]) {
    assert.ok(!g.matches(bad), JSON.stringify(bad));
  }
});

Deno.test("string characters are bounded positive classes, never [^…]", () => {
  // llama.cpp's negated classes also match what its lenient UTF-8 reader makes of invalid
  // bytes (values past U+10FFFF, surrogates); bounded ranges refuse them.
  const b = new GbnfBuilder(PRIMITIVE_NAMES);
  b.add("root", primitive(b, "string"));
  const text = b.render("root");
  assert.ok(!text.includes("[^"), text);
  assert.match(text, /\\U0010ffff\]/);
});
