import assert from "node:assert/strict";
import { SchemaTooDeepError, UnsupportedSchemaError } from "./errors.ts";
import { jsonObjectGbnf, jsonSchemaToGbnf } from "./schema_to_gbnf.ts";
import { Grammar, seededRandom } from "./testing/gbnf_interpreter.ts";
import { GRAMMAR_TEST_SCHEMAS } from "./testing/schemas.ts";
import { makeValidator } from "./testing/validator.ts";

Deno.test("there are enough varied test schemas", () => {
  assert.ok(GRAMMAR_TEST_SCHEMAS.length >= 12);
});

for (const t of GRAMMAR_TEST_SCHEMAS) {
  Deno.test(`schema: ${t.name}`, () => {
    const validate = makeValidator(t.schema, t.draft);
    // The test data itself is right…
    for (const d of t.valid) {
      assert.ok(validate(d), `ajv rejects a "valid" doc ${JSON.stringify(d)}`);
    }
    for (const d of t.invalid) {
      assert.ok(!validate(d), `ajv accepts an "invalid" doc ${JSON.stringify(d)}`);
    }

    const grammar = new Grammar(jsonSchemaToGbnf(t.schema));
    // …the grammar accepts the valid documents, compact and pretty-printed…
    for (const d of t.valid) {
      assert.ok(grammar.matches(JSON.stringify(d)), `rejects ${JSON.stringify(d)}`);
      const pretty = JSON.stringify(d, null, 2);
      assert.ok(grammar.matches(pretty), `rejects pretty ${pretty}`);
    }
    // …rejects the invalid ones…
    for (const d of t.invalid) {
      assert.ok(!grammar.matches(JSON.stringify(d)), `accepts ${JSON.stringify(d)}`);
    }
    // …and everything it can generate is valid (what a random-weight model would write).
    const rnd = seededRandom(t.name.length);
    for (let i = 0; i < 150; i++) {
      const text = grammar.sample(rnd);
      assert.ok(validate(JSON.parse(text)), `generated an invalid document: ${text}`);
    }
  });
}

Deno.test("whitespace between tokens is capped", () => {
  const g = new Grammar(jsonSchemaToGbnf({ type: "array", items: { type: "integer" } }));
  assert.ok(g.matches(`[${" ".repeat(1)}1,\n${" ".repeat(20)}2\n\n]`));
  assert.ok(!g.matches(`[1,${" ".repeat(2)}2]`), "two spaces are not allowed");
  assert.ok(!g.matches(`[1,\n${" ".repeat(21)}2]`), "indentation is capped at 20");
  assert.ok(!g.matches("[1,\n\n\n2]"), "at most two newlines");
  assert.ok(!g.matches(" [1]"), "no leading whitespace");
  assert.ok(!g.matches("[1] "), "no trailing whitespace");
});

Deno.test("no properties beyond the declared ones by default; declared order", () => {
  const g = new Grammar(jsonSchemaToGbnf({
    type: "object",
    properties: { a: { type: "integer" }, b: { type: "integer" } },
  }));
  assert.ok(g.matches('{"a": 1, "b": 2}'));
  assert.ok(g.matches("{}"));
  assert.ok(!g.matches('{"b": 2, "a": 1}'), "declared order only");
  assert.ok(!g.matches('{"a": 1, "c": 2}'), "no extra properties");
  assert.ok(!g.matches('{"a": 1, "a": 2}'), "no repeats");
  const open = new Grammar(jsonSchemaToGbnf({
    type: "object",
    properties: { a: { type: "integer" } },
    additionalProperties: true,
  }));
  assert.ok(open.matches('{"a": 1, "c": [2], "ab": null}'));
  assert.ok(!open.matches('{"a": 1, "a": 2}'), "an extra key never repeats a declared one");
  assert.ok(open.matches('{"z": {}}'));
});

Deno.test("recursive refs: to the root, and mutual", () => {
  const list = new Grammar(jsonSchemaToGbnf({
    type: "object",
    properties: { v: { type: "integer" }, next: { anyOf: [{ $ref: "#" }, { type: "null" }] } },
    required: ["v", "next"],
  }));
  assert.ok(list.matches('{"v": 1, "next": {"v": 2, "next": null}}'));
  assert.ok(!list.matches('{"v": 1, "next": {"v": 2}}'));
  const mutual = new Grammar(jsonSchemaToGbnf({
    $defs: {
      a: { type: "array", items: { $ref: "#/$defs/b" } },
      b: { anyOf: [{ type: "integer" }, { $ref: "#/$defs/a" }] },
    },
    $ref: "#/$defs/a",
  }));
  assert.ok(mutual.matches("[1, [2, [3, []]]]"));
  assert.ok(!mutual.matches('[1, ["x"]]'));
});

Deno.test("rootName names the top rule", () => {
  const text = jsonSchemaToGbnf({ type: "boolean" }, { rootName: "args" });
  assert.match(text, /^args ::= boolean$/m);
  assert.ok(new Grammar(text).matches("true", "args"));
  assert.throws(() => jsonSchemaToGbnf({}, { rootName: "bad name" }));
});

Deno.test("json_object grammar: any object, nothing else", () => {
  const g = new Grammar(jsonObjectGbnf());
  assert.ok(g.matches('{"a": [1, {"b": null}], "c": "d"}'));
  assert.ok(g.matches("{}"));
  for (const bad of ["[]", '"x"', "1", '{"a": }']) assert.ok(!g.matches(bad), bad);
});

Deno.test("annotations and unknown keywords are ignored", () => {
  const g = new Grammar(jsonSchemaToGbnf({
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "x",
    title: "T",
    description: "D",
    examples: [1],
    default: 1,
    $comment: "c",
    "x-vendor": true,
    type: "integer",
  }));
  assert.ok(g.matches("12"));
  assert.ok(!g.matches('"12"'));
});

function refusal(schema: unknown): UnsupportedSchemaError {
  try {
    jsonSchemaToGbnf(schema);
  } catch (e) {
    if (e instanceof UnsupportedSchemaError) return e;
    throw e;
  }
  throw new Error(`accepted ${JSON.stringify(schema)}`);
}

Deno.test("keywords that cannot be enforced are refused, naming keyword and place", () => {
  const cases: [unknown, string, string][] = [
    [{ type: "object", properties: { a: { not: { type: "null" } } } }, "not", "/properties/a"],
    [{ if: { type: "string" }, then: { minLength: 1 } }, "if", ""],
    [{ type: "number", multipleOf: 0.5 }, "multipleOf", ""],
    [{ type: "number", minimum: 0.5 }, "minimum", ""],
    [{ type: "number", exclusiveMaximum: 1.5 }, "exclusiveMaximum", ""],
    [{ type: "string", format: "hostname" }, "format", ""],
    [{ format: "hostname" }, "format", ""],
    [{ type: "string", pattern: "(?=x)" }, "pattern", ""],
    [{ type: "string", pattern: "^a$", maxLength: 3 }, "pattern", ""],
    [{ type: "array", items: { type: "integer" }, uniqueItems: true }, "uniqueItems", ""],
    [{ type: "array", contains: { type: "integer" } }, "contains", ""],
    [{ type: "object", patternProperties: { "^x": {} } }, "patternProperties", ""],
    [{ type: "object", propertyNames: { maxLength: 3 } }, "propertyNames", ""],
    [{ type: "object", minProperties: 1 }, "minProperties", ""],
    [{ type: "object", properties: { a: {} }, maxProperties: 0 }, "maxProperties", ""],
    [{ type: "object", dependentRequired: { a: ["b"] } }, "dependentRequired", ""],
    [{ $ref: "https://example.com/s.json" }, "$ref", ""],
    [{ $ref: "#/$defs/missing" }, "$ref", ""],
    [{ $ref: "#anchor" }, "$ref", ""],
    [
      { $defs: { a: { anyOf: [{ $ref: "#/$defs/a" }, { type: "null" }] } }, $ref: "#/$defs/a" },
      "$ref",
      "/$defs/a/anyOf/0",
    ],
    [{ oneOf: [{ type: "number" }, { type: "integer" }] }, "oneOf", ""],
    [
      {
        oneOf: [{ type: "object", properties: { a: {} } }, {
          type: "object",
          properties: { b: {} },
        }],
      },
      "oneOf",
      "",
    ],
    [
      {
        allOf: [{ type: "string", maxLength: 3 }, { type: "string", pattern: "a" }, {
          pattern: "b",
        }],
      },
      "pattern",
      "",
    ],
    [{ type: "object", properties: { a: { type: "string" } }, required: ["b"] }, "required", ""],
    [
      {
        type: "object",
        properties: { deep: { type: "array", items: [{ type: "string", minLength: -1 }] } },
      },
      "minLength",
      "/properties/deep/items/0",
    ],
    [{ type: "strng" }, "type", ""],
    [{ enum: [1, 2], minimum: 2 }, "minimum", ""],
    [{ type: "string", enum: [1, 2] }, "enum", ""],
    [{ type: "array", minItems: 3, maxItems: 2 }, "maxItems", ""],
    [{ type: "array", prefixItems: [{}], items: false, minItems: 2 }, "minItems", ""],
    [{ type: "integer", minimum: 5, maximum: 4 }, "minimum", ""],
    [false, "false", ""],
  ];
  for (const [schema, keyword, path] of cases) {
    const e = refusal(schema);
    assert.equal(e.keyword, keyword, JSON.stringify(schema));
    assert.equal(e.path, path, JSON.stringify(schema));
    assert.ok(e.message.includes(`"${keyword}"`), e.message);
  }
});

Deno.test("refusals a grammar can still honour are accepted", () => {
  // Trivially satisfied: unique with at most one item, minProperties met by required.
  const ok = [
    { type: "array", uniqueItems: true, maxItems: 1 },
    { type: "object", properties: { a: {} }, required: ["a"], minProperties: 1, maxProperties: 1 },
    { type: "integer", multipleOf: 1 },
    { type: "object", dependentRequired: {} },
    { oneOf: [{ type: "string" }, { type: "integer" }] },
    { oneOf: [{ const: "a" }, { const: "b" }] },
  ];
  for (const schema of ok) new Grammar(jsonSchemaToGbnf(schema));
});

Deno.test("integer and number formats", () => {
  const i32 = new Grammar(jsonSchemaToGbnf({ type: "integer", format: "int32" }));
  assert.ok(i32.matches("2147483647"));
  assert.ok(!i32.matches("2147483648"));
  assert.ok(i32.matches("-2147483648"));
  const dbl = new Grammar(jsonSchemaToGbnf({ type: "number", format: "double" }));
  assert.ok(dbl.matches("1.5e10"));
});

Deno.test("unknown types are refused, never taken for any value", () => {
  assert.throws(
    () => jsonSchemaToGbnf({ type: "banana" }),
    (e) => e instanceof UnsupportedSchemaError && /unknown type "banana"/.test(e.message),
  );
  assert.throws(
    () => jsonSchemaToGbnf({ type: "object", properties: { a: { type: ["string", "x"] } } }),
    (e) => e instanceof UnsupportedSchemaError && e.path === "/properties/a",
  );
});

Deno.test("a schema nested thousands of levels deep is refused, not a stack overflow", () => {
  let s: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < 5_000; i++) s = { type: "object", properties: { a: s }, required: ["a"] };
  assert.throws(
    () => jsonSchemaToGbnf(s),
    (e) => e instanceof SchemaTooDeepError && e instanceof UnsupportedSchemaError,
  );
  // Nesting within the bound converts.
  let ok: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < 60; i++) ok = { type: "object", properties: { a: ok }, required: ["a"] };
  assert.match(jsonSchemaToGbnf(ok), /root ::=/);
});
