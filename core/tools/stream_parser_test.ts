import assert from "node:assert/strict";
import { ToolCallCollector } from "./collect.ts";
import { sequentialToolCallIds } from "./ids.ts";
import { ToolCallStreamParser, type ToolStreamEvent } from "./stream_parser.ts";
import {
  type Generation,
  HANDWRITTEN,
  renderedGenerations,
  TOOLS,
} from "./testdata/generations.ts";

const GENERATIONS = [...renderedGenerations(), ...HANDWRITTEN];

function run(g: Generation, chunks: string[]): { events: ToolStreamEvent[]; called: boolean } {
  const parser = new ToolCallStreamParser({
    format: g.format,
    tools: TOOLS,
    newId: sequentialToolCallIds(),
  });
  const events: ToolStreamEvent[] = [];
  for (const c of chunks) events.push(...parser.push(c));
  const end = parser.finish();
  events.push(...end.events);
  return { events, called: end.calledTools };
}

/** Splits into pieces of `size` UTF-16 units, the first one `offset` long (if > 0). */
function fixed(text: string, size: number, offset: number): string[] {
  const out: string[] = [];
  let i = 0;
  if (offset > 0) {
    out.push(text.slice(0, offset));
    i = offset;
  }
  for (; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a * 1103515245 + 12345) & 0x7fffffff;
    return a / 0x80000000;
  };
}

/** Every fixed 1..3 chunking at every phase, every single cut, and random 1..3 chunkings. */
function chunkings(text: string): string[][] {
  const out: string[][] = [[text]];
  for (let size = 1; size <= 3; size++) {
    for (let offset = 0; offset < size; offset++) out.push(fixed(text, size, offset));
  }
  for (let cut = 1; cut < text.length; cut++) out.push([text.slice(0, cut), text.slice(cut)]);
  const rnd = seeded(text.length);
  for (let n = 0; n < 100; n++) {
    const pieces: string[] = [];
    for (let i = 0; i < text.length;) {
      const len = 1 + Math.floor(rnd() * 3);
      pieces.push(text.slice(i, i + len));
      i += len;
    }
    out.push(pieces);
  }
  return out;
}

function checkEventOrder(events: ToolStreamEvent[], label: string): void {
  let open: number | undefined;
  let next = 0;
  for (const e of events) {
    switch (e.type) {
      case "tool_call_start":
        assert.equal(open, undefined, `${label}: a call started inside another`);
        assert.equal(e.index, next++, `${label}: call indexes count up`);
        assert.match(e.id, /^call_\d+$/);
        open = e.index;
        break;
      case "tool_call_args":
        assert.equal(e.index, open, `${label}: arguments outside their call`);
        assert.notEqual(e.delta, "", `${label}: empty argument delta`);
        break;
      case "tool_call_end":
        assert.equal(e.index, open, `${label}: end of a call that is not open`);
        open = undefined;
        break;
      case "text":
        assert.equal(open, undefined, `${label}: text inside a call`);
        assert.notEqual(e.text, "", `${label}: empty text event`);
        break;
    }
  }
  assert.equal(open, undefined, `${label}: a call was never ended`);
}

for (const g of GENERATIONS) {
  Deno.test(`stream: ${g.name}`, () => {
    const whole = run(g, [g.text]);
    const reference = new ToolCallCollector();
    reference.add(whole.events);
    // The parse itself is right…
    assert.equal(reference.content, g.content);
    assert.deepEqual(
      reference.toolCalls.map((c) => ({
        name: c.function.name,
        arguments: JSON.parse(c.function.arguments),
      })),
      g.calls,
    );
    assert.equal(whole.called, g.calls.length > 0);
    for (const m of g.markers) assert.ok(!reference.content.includes(m), `marker ${m} leaked`);

    // …and any chunking gives the same content, calls, ids and arguments text.
    for (const chunks of chunkings(g.text)) {
      const label = `${g.name} / ${JSON.stringify(chunks.slice(0, 4))}…`;
      const got = run(g, chunks);
      checkEventOrder(got.events, label);
      const c = new ToolCallCollector();
      c.add(got.events);
      assert.equal(c.content, reference.content, label);
      assert.deepEqual(c.toolCalls, reference.toolCalls, label);
      assert.equal(got.called, whole.called, label);
      for (const e of got.events) {
        if (e.type !== "text") continue;
        for (const m of g.markers) {
          // No text event may hold a piece of a marker that the final content lacks.
          for (let len = 2; len <= m.length; len++) {
            const piece = m.slice(0, len);
            if (e.text.includes(piece)) {
              assert.ok(g.content.includes(piece), `${label}: ${piece} leaked`);
            }
          }
        }
      }
    }
  });
}

Deno.test("text before a call streams before the call is complete", () => {
  const g = HANDWRITTEN.find((x) => x.name.startsWith("hermes: arguments as a JSON string"))!;
  const parser = new ToolCallStreamParser({ format: "hermes", tools: TOOLS });
  const events = parser.push("I will write it.\n\n<tool_");
  assert.deepEqual(events, [{ type: "text", text: "I will write it." }]);
  // The held-back whitespace and partial marker never show up as text.
  const rest = parser.push(g.text.slice("I will write it.\n\n<tool_".length));
  assert.ok(rest.every((e) => e.type !== "text"));
  assert.ok(parser.finish().calledTools);
});

Deno.test("arguments stream in pieces as they arrive", () => {
  const parser = new ToolCallStreamParser({ format: "hermes", tools: TOOLS });
  const head = '<tool_call>{"name": "write_file", "arguments": {"path": "a.txt", "content": "';
  const started = parser.push(head);
  assert.equal(started[0].type, "tool_call_start");
  // The key is out once its value has begun.
  assert.deepEqual(started.slice(1), [{
    type: "tool_call_args",
    index: 0,
    delta: '{"path": "a.txt", "content": "',
  }]);
  assert.deepEqual(parser.push("hello "), [{ type: "tool_call_args", index: 0, delta: "hello " }]);
  assert.deepEqual(parser.push("world"), [{ type: "tool_call_args", index: 0, delta: "world" }]);
  assert.deepEqual(parser.push('"}}</tool_call>'), [
    { type: "tool_call_args", index: 0, delta: '"}' },
    { type: "tool_call_end", index: 0 },
  ]);
  const end = parser.finish();
  assert.deepEqual(end.events, []);
  assert.equal(end.calledTools, true);
});

Deno.test("without a tools list any name is accepted", () => {
  const parser = new ToolCallStreamParser({ format: "hermes", newId: sequentialToolCallIds("t") });
  const events = parser.push('<tool_call>{"name": "anything", "arguments": {}}</tool_call>');
  assert.deepEqual(events, [
    { type: "tool_call_start", index: 0, id: "t0", name: "anything" },
    { type: "tool_call_args", index: 0, delta: "{}" },
    { type: "tool_call_end", index: 0 },
  ]);
});

Deno.test("surrogate pairs split across deltas are not split in events", () => {
  const parser = new ToolCallStreamParser({ format: "hermes", tools: TOOLS });
  const emoji = "😀";
  const a = parser.push("x" + emoji[0]);
  const b = parser.push(emoji[1] + "y");
  assert.deepEqual(a, [{ type: "text", text: "x" }]);
  assert.deepEqual(b, [{ type: "text", text: emoji + "y" }]);
});

Deno.test("finish() reports issues and refuses reuse", () => {
  const parser = new ToolCallStreamParser({ format: "hermes", tools: TOOLS });
  parser.push('<tool_call>{"name": "get_weather", "arguments": {"location": "Ri');
  const end = parser.finish();
  assert.deepEqual(end.events, [
    { type: "tool_call_args", index: 0, delta: '"}' },
    { type: "tool_call_end", index: 0 },
  ]);
  assert.ok(end.issues.some((i) => i.includes("cut off")));
  assert.throws(() => parser.push("x"));
  assert.throws(() => parser.finish());
});

Deno.test("whitespace is kept exactly when no call is made", () => {
  const parser = new ToolCallStreamParser({ format: "hermes", tools: TOOLS });
  const events = [...parser.push("  a \n"), ...parser.push("\n b  ")];
  events.push(...parser.finish().events);
  assert.equal(events.map((e) => e.type === "text" ? e.text : "").join(""), "  a \n\n b  ");
});

Deno.test("xml: arguments stream as JSON while the parameters arrive", () => {
  const parser = new ToolCallStreamParser({
    format: "qwen_xml",
    tools: TOOLS,
    newId: sequentialToolCallIds(),
  });
  assert.deepEqual(parser.push("Checking.\n<tool_call>\n<function=plan_tr"), [
    { type: "text", text: "Checking." },
  ]);
  // Announced once the name is complete; a string value streams as it comes.
  assert.deepEqual(parser.push('ip>\n<parameter=city>\nSaint "Ly'), [
    { type: "tool_call_start", index: 0, id: "call_0", name: "plan_trip" },
    { type: "tool_call_args", index: 0, delta: '{"city": "Saint \\"Ly' },
  ]);
  // A newline that may be the one before the closing tag, and the tag itself, wait.
  assert.deepEqual(parser.push("on\n</param"), [{ type: "tool_call_args", index: 0, delta: "on" }]);
  assert.deepEqual(parser.push("eter>\n<par"), []);
  // A closing tag counts once the next tag confirms it; a typed value is out then.
  assert.deepEqual(parser.push("ameter=days>\n12\n</parameter>\n"), [
    { type: "tool_call_args", index: 0, delta: '"' },
  ]);
  assert.deepEqual(parser.push("</function>\n</tool_call>"), [
    { type: "tool_call_args", index: 0, delta: ', "days": 12}' },
    { type: "tool_call_end", index: 0 },
  ]);
  const end = parser.finish();
  assert.deepEqual(end, { events: [], calledTools: true, issues: [] });
});

Deno.test("xml: without a schema every parameter is a string", () => {
  const parser = new ToolCallStreamParser({
    format: "minimax_xml",
    tools: [{ function: { name: "f" } }],
    newId: sequentialToolCallIds(),
  });
  const events = parser.push(
    '<minimax:tool_call>\n<invoke name="f">\n<parameter name="n">3</parameter>\n' +
      '<parameter name="b">true</parameter>\n</invoke>\n</minimax:tool_call>',
  );
  const c = new ToolCallCollector();
  c.add([...events, ...parser.finish().events]);
  assert.equal(c.toolCalls[0].function.arguments, '{"n": "3", "b": "true"}');
});

Deno.test("xml: repairs and dropped text are reported in issues", () => {
  const parser = new ToolCallStreamParser({ format: "qwen_xml", tools: TOOLS });
  parser.push(
    "<tool_call>\n<function=plan_trip>\n<parameter=city>\nNice\n</parameter>\n" +
      "<parameter=days>\nthree\n</parameter>\n<parameter=city>\nCannes\n</parameter>\n" +
      "</tool_call>\n<tool_call>\n<function=get_weather>\n<parameter=location>\nRome\n" +
      "</parameter>\n<parameter=<unit>\n</function>\n</tool_call>\n" +
      "<tool_call>\n<function=write_file>\n<parameter=path>\na",
  );
  assert.deepEqual(parser.finish().issues, [
    'parameter "days" is not an integer; kept it as text',
    'dropped a repeated parameter "city"',
    "a call was not closed with </function>",
    "malformed call (a malformed parameter name); kept the parameters before it",
    "arguments were cut off; closed them",
  ]);
});

Deno.test("xml: a block that ends before a call is announced is content, verbatim", () => {
  for (const text of ["x <tool_call>\n<function=get_wea", "<tool_call>get_weather", "<function="]) {
    const format = text.includes("function") ? "qwen_xml" : "glm_xml";
    const parser = new ToolCallStreamParser({ format, tools: TOOLS });
    const events = [...parser.push(text), ...parser.finish().events];
    assert.ok(events.every((e) => e.type === "text"), text);
    assert.equal(events.map((e) => e.type === "text" ? e.text : "").join(""), text);
  }
});
