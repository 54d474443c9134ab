import assert from "node:assert/strict";
import { parseToolCalls } from "../tools/parse.ts";
import { HANDWRITTEN, renderedGenerations, TOOLS } from "../tools/testdata/generations.ts";
import type { ToolFormat } from "../tools/format.ts";
import { UnsupportedSchemaError } from "./errors.ts";
import { Grammar, seededRandom } from "./testing/gbnf_interpreter.ts";
import { GRAMMAR_TEST_SCHEMAS } from "./testing/schemas.ts";
import { makeValidator } from "./testing/validator.ts";
import { toolCallGbnf } from "./tool_call_grammar.ts";

const XML_FORMATS = ["qwen_xml", "glm_xml", "minimax_xml"] as const;
const FORMATS: ToolFormat[] = ["hermes", "llama3", "mistral", "json", ...XML_FORMATS];

Deno.test("what models were trained to write fits the forcing grammar", () => {
  const grammars = new Map(FORMATS.map((f) => [f, new Grammar(toolCallGbnf(TOOLS, f))]));
  const calls = [...renderedGenerations(), ...HANDWRITTEN].filter((g) => g.canonical);
  assert.equal(calls.length, 16);
  for (const f of FORMATS) assert.ok(calls.some((g) => g.format === f), `a ${f} sample`);
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

// --- XML formats ----------------------------------------------------------------------------

const QWEN_WEATHER = "<tool_call>\n<function=get_weather>\n<parameter=location>\nOslo\n" +
  "</parameter>\n</function>\n</tool_call>";

Deno.test("xml: the grammar starts with the lazy trigger and forces the template's layout", () => {
  for (const f of XML_FORMATS) {
    const text = toolCallGbnf(TOOLS, f);
    const open = f === "minimax_xml" ? "<minimax:tool_call>" : "<tool_call>";
    const root = new Grammar(text);
    // Every string of the grammar starts with the trigger marker.
    const rnd = seededRandom(7);
    for (let i = 0; i < 20; i++) assert.ok(root.sample(rnd, { depth: 8 }).startsWith(open));
  }
  const g = new Grammar(toolCallGbnf(TOOLS, "qwen_xml"));
  assert.ok(g.matches(QWEN_WEATHER));
  assert.ok(g.matches(QWEN_WEATHER + "\n" + QWEN_WEATHER), "parallel calls");
  assert.ok(!g.matches(QWEN_WEATHER.slice("<tool_call>\n".length)), "the block tag is required");
  assert.ok(
    !g.matches("<tool_call>\n<function=get_weather>\n</function>\n</tool_call>"),
    "required parameter",
  );
  assert.ok(
    !g.matches(QWEN_WEATHER.replace("get_weather", "rm_rf")),
    "only the request's tools",
  );
  const unit = (u: string) =>
    QWEN_WEATHER.replace("</parameter>\n", `</parameter>\n<parameter=unit>\n${u}\n</parameter>\n`);
  assert.ok(g.matches(unit("c")));
  assert.ok(!g.matches(unit("kelvin")), "enum");
  const trip = (days: string, extra = "") =>
    "<tool_call>\n<function=plan_trip>\n<parameter=city>\nX\n</parameter>\n" +
    `<parameter=days>\n${days}\n</parameter>\n${extra}</function>\n</tool_call>`;
  assert.ok(g.matches(trip("30")));
  assert.ok(!g.matches(trip("31")), "maximum");
  assert.ok(!g.matches(trip("3.5")), "integer");
  assert.ok(!g.matches(trip("three")), "a number, not text");
  assert.ok(g.matches(trip("3", "<parameter=refundable>\ntrue\n</parameter>\n")));
  assert.ok(!g.matches(trip("3", "<parameter=refundable>\nTrue\n</parameter>\n")));
  assert.ok(g.matches(trip("3", '<parameter=tags>\n["a <b>"]\n</parameter>\n')));
  assert.ok(!g.matches(trip("3", '<parameter=tags>\n["a</parameter>"]\n</parameter>\n')));
  assert.ok(g.matches(trip("3", "<parameter=note>\nnull\n</parameter>\n")));
  assert.ok(g.matches(trip("3", '<parameter=note>\n"text"\n</parameter>\n')));
});

Deno.test("xml: glm and minimax layouts, forced name, one call without parallel calls", () => {
  const glm = new Grammar(toolCallGbnf(TOOLS, "glm_xml", { forcedName: "get_weather" }));
  const a = "<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Oslo</arg_value>" +
    "\n</tool_call>";
  assert.ok(glm.matches(a));
  assert.ok(glm.matches(a.replaceAll("\n", "")), "GLM 4.7 writes no newlines");
  assert.ok(glm.matches(a + "\n" + a));
  assert.ok(!glm.matches("<tool_call>write_file</tool_call>"), "forced name");
  assert.ok(!glm.matches(a.replace("Oslo", "a</arg_value>b")), "closing tag inside a value");

  const mm = new Grammar(toolCallGbnf(TOOLS, "minimax_xml", { parallel: false }));
  const invoke = '<invoke name="get_weather">\n<parameter name="location">Oslo</parameter>\n' +
    "</invoke>\n";
  assert.ok(mm.matches(`<minimax:tool_call>\n${invoke}</minimax:tool_call>`));
  assert.ok(!mm.matches(`<minimax:tool_call>\n${invoke}${invoke}</minimax:tool_call>`));
  const mmParallel = new Grammar(toolCallGbnf(TOOLS, "minimax_xml"));
  assert.ok(mmParallel.matches(`<minimax:tool_call>\n${invoke}${invoke}</minimax:tool_call>`));

  const one = new Grammar(toolCallGbnf(TOOLS, "qwen_xml", { parallel: false }));
  assert.ok(one.matches(QWEN_WEATHER));
  assert.ok(!one.matches(QWEN_WEATHER + "\n" + QWEN_WEATHER));
});

/** Random strings over the characters of the closing tag (and a few others). */
function closerSoup(closer: string, n: number, seed: number): string[] {
  const alphabet = [...new Set(closer + "x \n")];
  const rnd = seededRandom(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = "";
    const len = Math.floor(rnd() * 30);
    // Often start from a piece of the closer, so near-misses are common.
    if (rnd() < 0.5) s = closer.slice(0, Math.floor(rnd() * (closer.length + 1)));
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    if (rnd() < 0.3) s += closer.slice(0, Math.floor(rnd() * (closer.length + 1)));
    out.push(s);
  }
  return out;
}

Deno.test("xml: a raw string value is any text without the closing tag (exactly)", () => {
  const tool = {
    function: {
      name: "f",
      parameters: {
        type: "object",
        properties: { s: { type: "string" }, l: { type: "array", items: { type: "string" } } },
        required: ["s"],
      },
    },
  };
  for (const f of XML_FORMATS) {
    const g = new Grammar(toolCallGbnf([tool], f));
    const closer = f === "glm_xml" ? "</arg_value>" : "</parameter>";
    const write = (s: string, list?: string) => {
      switch (f) {
        case "qwen_xml":
          return `<tool_call>\n<function=f>\n<parameter=s>\n${s}\n</parameter>\n` +
            (list ? `<parameter=l>\n${list}\n</parameter>\n` : "") + "</function>\n</tool_call>";
        case "glm_xml":
          return `<tool_call>f<arg_key>s</arg_key><arg_value>${s}</arg_value>` +
            (list ? `<arg_key>l</arg_key><arg_value>${list}</arg_value>` : "") + "</tool_call>";
        case "minimax_xml":
          return `<minimax:tool_call>\n<invoke name="f">\n<parameter name="s">${s}</parameter>\n` +
            (list ? `<parameter name="l">${list}</parameter>\n` : "") +
            "</invoke>\n</minimax:tool_call>";
      }
    };
    let inside = 0;
    for (const s of closerSoup(closer, 400, f.length)) {
      const free = !s.includes(closer);
      if (!free) inside++;
      assert.equal(g.matches(write(s)), free, `${f}: ${JSON.stringify(s)}`);
      // The same inside a JSON string of an array parameter.
      const list = JSON.stringify([s]);
      assert.equal(g.matches(write("x", list)), free, `${f}: ${list}`);
      if (free) {
        const parsed = parseToolCalls(write(s, list), { format: f, tools: [tool] });
        assert.deepEqual(JSON.parse(parsed.toolCalls[0].function.arguments), { s, l: [s] });
      }
    }
    assert.ok(inside > 20, "the soup holds the closing tag often enough");
  }
});

/** A test schema as the single required parameter `value` of a tool. */
function asParameter(schema: Record<string, unknown> | boolean): Record<string, unknown> {
  if (typeof schema === "boolean") {
    return { type: "object", properties: { value: schema }, required: ["value"] };
  }
  const { $defs, definitions, ...rest } = schema;
  return {
    type: "object",
    properties: { value: rest },
    required: ["value"],
    ...($defs ? { $defs } : {}),
    ...(definitions ? { definitions } : {}),
  };
}

for (const format of XML_FORMATS) {
  Deno.test(`${format}: forced calls over the test schemas parse back into valid arguments`, () => {
    let used = 0;
    const refused: string[] = [];
    for (const [i, t] of GRAMMAR_TEST_SCHEMAS.entries()) {
      // Each schema both as one parameter and, where it is an object, as the parameters.
      const shapes = [asParameter(t.schema)];
      if (typeof t.schema === "object" && t.schema.type === "object") shapes.push(t.schema);
      for (const parameters of shapes) {
        const tool = { function: { name: `t${i}`, parameters } };
        let gbnf: string;
        try {
          gbnf = toolCallGbnf([tool], format);
        } catch (e) {
          assert.ok(e instanceof UnsupportedSchemaError, String(e));
          assert.ok(e.path.startsWith("/tools/0/function/parameters"), e.path);
          refused.push(`${t.name}: ${e.message}`);
          continue;
        }
        used++;
        const grammar = new Grammar(gbnf);
        const valid = makeValidator(parameters, t.draft);
        const rnd = seededRandom(i + format.length);
        for (let n = 0; n < 25; n++) {
          const text = grammar.sample(rnd, { depth: 7 });
          const parsed = parseToolCalls(text, { format, tools: [tool] });
          assert.equal(parsed.content, "", `${t.name}: content left over: ${text}`);
          assert.ok(parsed.toolCalls.length >= 1, text);
          assert.deepEqual(parsed.issues, [], text);
          for (const call of parsed.toolCalls) {
            const args = JSON.parse(call.function.arguments);
            assert.ok(valid(args), `${t.name}: ${text} → ${JSON.stringify(args)}`);
          }
        }
      }
    }
    // Most schemas work; those that do not are refused by name, never mis-enforced.
    assert.ok(used >= 25, `only ${used} usable:\n${refused.join("\n")}`);
  });
}

Deno.test("xml: what cannot be written or enforced is refused with its place", () => {
  const refuse = (parameters: unknown, keyword: string, path: string, name = "f") => {
    const tool = { function: { name, parameters: parameters as Record<string, unknown> } };
    for (const f of XML_FORMATS) {
      assert.throws(
        () => toolCallGbnf([tool], f),
        (e) => e instanceof UnsupportedSchemaError && e.keyword === keyword && e.path === path,
        `${f}: ${keyword} at ${path}`,
      );
    }
  };
  const P = "/tools/0/function/parameters";
  refuse(
    { type: "object", properties: { code: { type: "string", pattern: "^[A-Z]+$" } } },
    "pattern",
    `${P}/properties/code`,
  );
  refuse({ type: "object", anyOf: [{ required: ["a"] }] }, "anyOf", P);
  refuse({ type: "object", properties: { "a>b": { type: "string" } } }, "properties", P);
  refuse({ type: "object", properties: { " a": { type: "string" } } }, "properties", P);
  refuse({ type: "object", properties: {} }, "name", "/tools/0/function", "get weather");
  refuse(
    { type: "object", properties: { a: { type: "object", properties: { b: { $ref: "#" } } } } },
    "$ref",
    `${P}/properties/a`,
  );
  refuse(
    { type: "object", properties: { n: { type: "number", multipleOf: 3 } } },
    "multipleOf",
    `${P}/properties/n`,
  );
  // A tool with no parameters takes none.
  const none = new Grammar(toolCallGbnf([{ function: { name: "now" } }], "qwen_xml"));
  assert.ok(none.matches("<tool_call>\n<function=now>\n</function>\n</tool_call>"));
  assert.ok(
    !none.matches(
      "<tool_call>\n<function=now>\n<parameter=x>\n1\n</parameter>\n</function>\n</tool_call>",
    ),
  );
});
