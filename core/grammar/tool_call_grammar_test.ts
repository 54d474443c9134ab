import assert from "node:assert/strict";
import { parseToolCalls } from "../tools/parse.ts";
import { HANDWRITTEN, renderedGenerations, TOOLS } from "../tools/testdata/generations.ts";
import type { ToolFormat } from "../tools/format.ts";
import { UnsupportedSchemaError } from "./errors.ts";
import { Grammar, seededRandom } from "./testing/gbnf_interpreter.ts";
import { makeValidator } from "./testing/validator.ts";
import { toolCallGbnf } from "./tool_call_grammar.ts";

const FORMATS: ToolFormat[] = ["hermes", "llama3", "mistral", "json"];

Deno.test("what models were trained to write fits the forcing grammar", () => {
  const grammars = new Map(FORMATS.map((f) => [f, new Grammar(toolCallGbnf(TOOLS, f))]));
  const calls = [...renderedGenerations(), ...HANDWRITTEN].filter((g) => g.canonical);
  assert.equal(calls.length, 10);
  for (const g of calls) {
    const text = g.text.trim();
    assert.ok(grammars.get(g.format)!.matches(text), `${g.name}: ${JSON.stringify(text)}`);
  }
});

for (const format of FORMATS) {
  Deno.test(`${format}: every forced output parses back into valid calls`, () => {
    const grammar = new Grammar(toolCallGbnf(TOOLS, format));
    const validators = new Map(
      TOOLS.map((t) => [t.function.name, makeValidator(t.function.parameters)]),
    );
    const rnd = seededRandom(format.length);
    for (let i = 0; i < 120; i++) {
      const text = grammar.sample(rnd, { depth: 8 });
      const parsed = parseToolCalls(text, { format, tools: TOOLS });
      assert.equal(parsed.content, "", `content left over: ${text}`);
      assert.ok(parsed.toolCalls.length >= 1, text);
      assert.deepEqual(parsed.issues, [], text);
      for (const call of parsed.toolCalls) {
        const valid = validators.get(call.function.name)!;
        assert.ok(
          valid(JSON.parse(call.function.arguments)),
          `${text} → ${call.function.arguments}`,
        );
      }
    }
  });
}

Deno.test("a forced name allows only that tool; parallel false allows one call", () => {
  const g = new Grammar(
    toolCallGbnf(TOOLS, "hermes", { forcedName: "get_weather", parallel: false }),
  );
  const weather =
    '<tool_call>\n{"name": "get_weather", "arguments": {"location": "Oslo"}}\n</tool_call>';
  assert.ok(g.matches(weather));
  assert.ok(!g.matches(weather + weather), "one call only");
  assert.ok(
    !g.matches(
      '<tool_call>{"name": "write_file", "arguments": {"path": "a", "content": "b"}}</tool_call>',
    ),
  );
  assert.ok(
    !g.matches('<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>'),
    "required",
  );
  const parallel = new Grammar(toolCallGbnf(TOOLS, "hermes"));
  assert.ok(parallel.matches(weather + "\n" + weather));
});

Deno.test("mistral accepts both the list and the name[ARGS] forms", () => {
  const g = new Grammar(toolCallGbnf(TOOLS, "mistral"));
  assert.ok(
    g.matches(
      '[TOOL_CALLS][{"name": "get_weather", "arguments": {"location": "x"}, "id": "abc123XYZ"}]',
    ),
  );
  assert.ok(
    g.matches(
      '[TOOL_CALLS]get_weather[ARGS]{"location": "x"}[TOOL_CALLS]get_weather[ARGS]{"location": "y"}',
    ),
  );
  assert.ok(g.matches('[TOOL_CALLS]get_weather[CALL_ID]abc123XYZ[ARGS]{"location": "x"}'));
  assert.ok(!g.matches("[TOOL_CALLS]nope[ARGS]{}"));
});

Deno.test("tools without parameters take an empty object", () => {
  const g = new Grammar(toolCallGbnf([{ function: { name: "now" } }], "llama3"));
  assert.ok(g.matches('{"name": "now", "parameters": {}}'));
  assert.ok(!g.matches('{"name": "now", "parameters": {"x": 1}}'));
});

Deno.test("errors name the tool's schema location", () => {
  const tools = [
    TOOLS[0],
    {
      function: {
        name: "bad",
        parameters: { type: "object", properties: { n: { type: "number", multipleOf: 3 } } },
      },
    },
  ];
  try {
    toolCallGbnf(tools, "hermes");
    assert.fail("accepted");
  } catch (e) {
    assert.ok(e instanceof UnsupportedSchemaError);
    assert.equal(e.keyword, "multipleOf");
    assert.equal(e.path, "/tools/1/function/parameters/properties/n");
  }
  assert.throws(
    () => toolCallGbnf([{ function: { name: "s", parameters: { type: "string" } } }], "json"),
    (e) => e instanceof UnsupportedSchemaError && e.path === "/tools/0/function/parameters",
  );
  assert.throws(() => toolCallGbnf(TOOLS, "hermes", { forcedName: "nope" }), /not among/);
  assert.throws(() => toolCallGbnf([], "hermes"), /no tools/);
  assert.throws(() => toolCallGbnf(TOOLS, "none"), /no tool-call format/);
});
