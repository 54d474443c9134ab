import assert from "node:assert/strict";
import {
  convertValue,
  isPlainString,
  type ParamType,
  paramType,
  ToolParamTypes,
} from "./param_types.ts";

const types = (t: ParamType) => t.types && [...t.types].sort();

Deno.test("a schema's JSON types, through unions, refs and allOf", () => {
  const root = { $defs: { unit: { type: "string", enum: ["c", "f"] }, n: { type: "number" } } };
  assert.ok(isPlainString(paramType({ type: "string", minLength: 2 }, root)));
  assert.ok(isPlainString(paramType({ type: ["string"] }, root)));
  assert.ok(!isPlainString(paramType({ type: "string", nullable: true }, root)));
  assert.deepEqual(types(paramType({ type: ["string", "null"] }, root)), ["null", "string"]);
  assert.deepEqual(paramType({ $ref: "#/$defs/unit" }, root).literals, ["c", "f"]);
  assert.deepEqual(
    types(paramType({ anyOf: [{ type: "string" }, { $ref: "#/$defs/n" }] }, root)),
    ["number", "string"],
  );
  assert.deepEqual(
    types(paramType({ allOf: [{ type: ["number", "string"] }, { type: "integer" }] }, root)),
    ["integer"],
  );
  assert.deepEqual(paramType({ const: 3 }, root), { types: new Set(["integer"]), literals: [3] });
  // Nothing declared, an unknown reference, or a union with an untyped branch: any value.
  assert.equal(paramType({ description: "x" }, root).types, undefined);
  assert.equal(paramType({ $ref: "#/$defs/missing" }, root).types, undefined);
  assert.equal(paramType({ anyOf: [{ type: "string" }, {}] }, root).types, undefined);
});

Deno.test("raw text becomes the JSON value the schema's types allow", () => {
  const t = (...list: string[]): ParamType => ({ types: new Set(list) as ParamType["types"] });
  const cases: [string, ParamType, string, boolean][] = [
    [" 3 ", t("integer"), "3", false],
    ["2.5", t("number"), "2.5", false],
    ["2.5", t("integer"), '"2.5"', true],
    ["True", t("boolean"), "true", false],
    ["false", t("boolean"), "false", false],
    ["None", t("string", "null"), "null", false],
    ["null", t("string", "null"), "null", false],
    ["Paris", t("string", "null"), '"Paris"', false],
    ['{"a": [1]}', t("object"), '{"a": [1]}', false],
    ["[1, 2]", t("object"), '"[1, 2]"', true],
    ['"quoted"', t("string", "integer"), '"quoted"', false],
    ["42", { types: undefined }, "42", false],
    ["not json", { types: undefined }, '"not json"', false],
    ["3", { types: new Set(["string", "integer"]), literals: ["3"] }, '"3"', false],
    ["3", { types: new Set(["string", "integer"]), literals: ["3", 3] }, "3", false],
    ["kelvin", { types: new Set(["string"]), literals: ["c", "f"] }, '"kelvin"', true],
  ];
  for (const [text, type, json, mismatch] of cases) {
    assert.deepEqual(convertValue(text, type), { json, mismatch }, `${text} as ${types(type)}`);
  }
});

Deno.test("parameters nothing declares are strings", () => {
  const p = new ToolParamTypes([
    {
      function: {
        name: "a",
        parameters: { type: "object", properties: { n: { type: "integer" } } },
      },
    },
    { function: { name: "b" } },
  ]);
  assert.deepEqual(types(p.of("a", "n")), ["integer"]);
  assert.ok(isPlainString(p.of("a", "other")));
  assert.ok(isPlainString(p.of("b", "n")));
  assert.ok(isPlainString(p.of("unknown", "n")));
  assert.ok(isPlainString(new ToolParamTypes(undefined).of("a", "n")));
});
