import assert from "node:assert/strict";
import { JsonValueStream } from "./json_value_stream.ts";

function feed(text: string): { out: string; status: string; stream: JsonValueStream } {
  const stream = new JsonValueStream();
  let out = "";
  let status = "more";
  for (const ch of text) {
    status = stream.push(ch);
    out += stream.take();
    if (status !== "more") break;
  }
  return { out, status, stream };
}

const DOCS = [
  '{"a": 1, "b": [true, false, null], "c": {"d": "x\\"y\\\\z\\u00e9"}}',
  '{ "path" : "src/a.ts" , "content" : "line1\\nline2" , "n" : -12.5e+3 }',
  "[1, [2, [3, {}]], []]",
  '{"empty": "", "list": [ ], "obj": { }, "neg": -0, "exp": 1E-2}',
  '"just a string"',
  '{"emoji": "😀 é 中"}',
];

Deno.test("every prefix of the safe output closes into valid JSON", () => {
  for (const doc of DOCS) {
    const stream = new JsonValueStream();
    let out = "";
    for (const ch of doc) {
      const r = stream.push(ch);
      out += stream.take();
      // The safe text plus its closers always parses.
      assert.doesNotThrow(() => JSON.parse(out + stream.closers() || "null"), `${doc} @ ${out}`);
      if (r === "done") break;
    }
    assert.equal(out, doc);
    assert.deepEqual(JSON.parse(out), JSON.parse(doc));
    assert.equal(stream.closers(), "");
  }
});

Deno.test("keys, commas, numbers and literals are held until safe", () => {
  const s = new JsonValueStream();
  let out = "";
  for (const ch of '{"key": 12') {
    s.push(ch);
    out += s.take();
  }
  assert.equal(out, "{", "key and unfinished number held back");
  s.push(",");
  out += s.take();
  assert.equal(out, '{"key": 12', "the number is out once it ends, the comma is not");
  for (const ch of ' "b": tr') {
    s.push(ch);
    out += s.take();
  }
  assert.equal(out, '{"key": 12', "a partial literal is held back");
  s.push("u");
  s.push("e");
  out += s.take();
  assert.equal(out, '{"key": 12, "b": true');
  assert.equal(s.closers(), "}");
});

Deno.test("an open value string is closed by closers()", () => {
  const { out, stream } = feed('{"a": ["x", "partial va');
  assert.equal(out, '{"a": ["x", "partial va');
  assert.equal(stream.closers(), '"]}');
  assert.deepEqual(JSON.parse(out + stream.closers()), { a: ["x", "partial va"] });
});

Deno.test("an escape is held until complete", () => {
  const { out, stream } = feed('{"a": "x\\u00');
  assert.equal(out, '{"a": "x');
  assert.deepEqual(JSON.parse(out + stream.closers()), { a: "x" });
});

Deno.test("repairs: raw control characters, invalid escapes, trailing commas", () => {
  const cases: [string, unknown][] = [
    ['{"code": "a\nb\tc"}', { code: "a\nb\tc" }],
    ['{"re": "\\d+\\.\\w"}', { re: "\\d+\\.\\w" }],
    ['{"a": [1, 2, ], }', { a: [1, 2] }],
  ];
  for (const [text, expected] of cases) {
    const { out, status, stream } = feed(text);
    assert.equal(status, "done", text);
    assert.deepEqual(JSON.parse(out), expected, text);
    assert.ok(stream.repairs.length > 0, `repairs recorded for ${JSON.stringify(text)}`);
  }
});

Deno.test("errors stop the value without consuming the character", () => {
  for (
    const text of ['{"a" 1}', '{"a": 1 "b": 2}', "{'a': 1}", '{"a": tru}', '{"a": 01x}', "[1}"]
  ) {
    const { status } = feed(text);
    assert.equal(status, "error", text);
  }
  const s = new JsonValueStream();
  for (const ch of '{"a": 1') s.push(ch);
  assert.equal(s.push("x"), "error");
  assert.equal(s.push("}"), "error", "stays in error");
});

Deno.test("a top-level number ends at a delimiter or at end()", () => {
  const a = new JsonValueStream();
  for (const ch of "-12.5") assert.equal(a.push(ch), "more");
  assert.equal(a.push(" "), "done_unconsumed");
  assert.equal(a.take(), "-12.5");
  const b = new JsonValueStream();
  for (const ch of "42") b.push(ch);
  assert.equal(b.end(), "done");
  assert.equal(b.take(), "42");
  const c = new JsonValueStream();
  for (const ch of "4.") c.push(ch);
  assert.equal(c.end(), "error");
});
