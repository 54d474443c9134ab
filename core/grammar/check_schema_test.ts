import assert from "node:assert/strict";
import { MAX_JSON_DEPTH } from "../json_depth.ts";
import { checkJsonSchema } from "./check_schema.ts";
import { GRAMMAR_TEST_SCHEMAS } from "./testing/schemas.ts";

/** An object schema `n` levels of `properties` deep (2n levels of JSON nesting). */
function nested(n: number): Record<string, unknown> {
  let s: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < n; i++) s = { type: "object", properties: { a: s } };
  return s;
}

Deno.test("valid schemas pass, the grammar tests' schemas among them", () => {
  for (const t of GRAMMAR_TEST_SCHEMAS) {
    assert.equal(checkJsonSchema(t.schema), null, t.name);
  }
  assert.equal(checkJsonSchema({}), null);
  assert.equal(checkJsonSchema(true), null);
  // Data keywords are not schemas: an enum of objects with a "type" is fine.
  assert.equal(checkJsonSchema({ enum: [{ type: "banana" }], default: { type: 5 } }), null);
  // A property named "type" is a name, not a keyword.
  assert.equal(checkJsonSchema({ properties: { type: { type: "string" } } }), null);
  assert.equal(checkJsonSchema(nested(MAX_JSON_DEPTH / 2 - 1)), null);
});

Deno.test("deeper than the bound: refused, without overflowing the stack", () => {
  for (const n of [MAX_JSON_DEPTH, 1_000, 100_000]) {
    const p = checkJsonSchema(nested(n));
    assert.equal(p?.pointer, "");
    assert.match(p!.message, /nested more than 64 levels deep/);
  }
});

Deno.test("unknown types and non-schemas are named with their place", () => {
  assert.deepEqual(checkJsonSchema({ type: "banana" }), {
    pointer: "",
    message:
      'unknown type "banana" (JSON Schema types: null, boolean, object, array, number, integer, string)',
  });
  assert.equal(
    checkJsonSchema({ type: "object", properties: { x: { type: ["string", "text"] } } })?.pointer,
    "/properties/x",
  );
  assert.match(
    checkJsonSchema({ properties: { x: "string" } })!.message,
    /a schema must be an object or a boolean, found string at \/properties\/x/,
  );
  assert.equal(checkJsonSchema({ items: [{}, { type: 1 }] })?.pointer, "/items/1");
  assert.equal(checkJsonSchema({ anyOf: [] })?.pointer, "");
  assert.equal(checkJsonSchema({ $defs: { d: { type: "int" } } })?.pointer, "/$defs/d");
  assert.equal(checkJsonSchema({ type: [] })?.message, '"type" is an empty list');
});

Deno.test("tool parameters must describe an object", () => {
  assert.equal(checkJsonSchema({ type: "object" }, { object: true }), null);
  assert.equal(checkJsonSchema({ type: ["object", "null"] }, { object: true }), null);
  assert.equal(checkJsonSchema({ properties: {} }, { object: true }), null);
  assert.match(
    checkJsonSchema({ type: "string" }, { object: true })!.message,
    /must describe an object/,
  );
});

Deno.test("a local $ref must land in the document; others are left to their resolver", () => {
  const dangling = { type: "object", properties: { a: { $ref: "#/nope" } } };
  assert.deepEqual(checkJsonSchema(dangling), {
    pointer: "/properties/a",
    message: 'JSON Schema keyword "$ref" at /properties/a: #/nope does not point into the schema',
  });
  const fine = { $defs: { n: { type: "integer" } }, properties: { a: { $ref: "#/$defs/n" } } };
  assert.equal(checkJsonSchema(fine), null);
  assert.equal(checkJsonSchema({ properties: { self: { $ref: "#" } } }), null);
  // Not ours to resolve here: a remote document, an anchor.
  assert.equal(checkJsonSchema({ $ref: "https://example.com/s.json" }), null);
  assert.equal(checkJsonSchema({ $ref: "#anchor" }), null);
});
