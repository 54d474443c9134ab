import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { indexKeyLines, lineOf } from "./toml_lines.ts";

const TEXT = `# comment
top = 1
[gateway]
listen = "x" # trailing
"quoted.key" = 2
a.b = 3

[[neurons]]
name = "one"
tags = [
  "name = not a key",
]
[[neurons]]
name = "two"
doc = """
fake = 1
"""

[[models]]
id = "m0"
[[models]]
id = "m1"
[models.sampling]
temperature = 1
`;

Deno.test("indexKeyLines maps key paths to their lines", () => {
  parse(TEXT); // the fixture is valid TOML
  const index = indexKeyLines(TEXT);
  assert.equal(index.get("top"), 2);
  assert.equal(index.get("gateway"), 3);
  assert.equal(index.get("gateway.listen"), 4);
  assert.equal(index.get('gateway."quoted.key"'), 5);
  assert.equal(index.get("gateway.a.b"), 6);
  assert.equal(index.get("neurons[0]"), 8);
  assert.equal(index.get("neurons[0].name"), 9);
  assert.equal(index.get("neurons[1].name"), 14);
  assert.equal(index.get("models[1].sampling.temperature"), 24);
  // Lines inside multi-line arrays and strings are values, not keys.
  assert.equal(index.get("neurons[1].fake"), undefined);
  assert.equal(index.get("neurons[0].tags"), 10);
});

Deno.test("lineOf falls back to the nearest ancestor in the file", () => {
  const index = indexKeyLines(TEXT);
  assert.equal(lineOf(index, ["neurons", 1, "endpoint"]), 13);
  assert.equal(lineOf(index, ["neurons", 0, "tags", 0]), 10);
  assert.equal(lineOf(index, ["eviction", "strategy"]), undefined);
});
