import assert from "node:assert/strict";
import { jsonDepth, jsonTextDepth, MAX_JSON_DEPTH } from "./json_depth.ts";

/** `{"a":{"a":…1…}}`, `n` objects deep, as text. */
const deepText = (n: number) => '{"a":'.repeat(n) + "1" + "}".repeat(n);

Deno.test("jsonDepth counts objects and arrays", () => {
  assert.equal(jsonDepth(1), 0);
  assert.equal(jsonDepth(null), 0);
  assert.equal(jsonDepth({}), 1);
  assert.equal(jsonDepth([1, 2]), 1);
  assert.equal(jsonDepth({ a: [], b: 1 }), 2);
  assert.equal(jsonDepth({ a: [{ b: [] }], c: {} }), 4);
});

Deno.test("jsonDepth measures a million levels without recursion and stops past the limit", () => {
  const v = JSON.parse(deepText(1_000_000));
  assert.equal(jsonDepth(v), 1_000_000);
  assert.equal(jsonDepth(v, MAX_JSON_DEPTH), MAX_JSON_DEPTH + 1);
});

Deno.test("jsonTextDepth ignores brackets inside strings", () => {
  assert.equal(jsonTextDepth('{"a": "{[{[", "b": [1, {"c": "\\"]]"}]}'), 3);
  assert.equal(jsonTextDepth("plain"), 0);
  assert.equal(jsonTextDepth(deepText(100_000)), 100_000);
  assert.equal(jsonTextDepth(deepText(100_000), 10), 11);
});
