/**
 * Model outputs with tool calls, and what parsing them must give.
 *
 * "Rendered" ones come from the models' own chat templates: the assistant turn a template
 * writes for a tool call is exactly the text the model was trained to generate. The rest
 * are hand-written in the shapes open models are known to produce, damage included.
 *
 * `plan_trip` has parameters of every JSON type: the XML formats write values as text and
 * the parser must give them back typed by the schema.
 */
import { Template } from "@huggingface/jinja";
import type { ToolFormat } from "../format.ts";

export interface ExpectedCall {
  name: string;
  arguments: Record<string, unknown>;
}

export interface Generation {
  name: string;
  format: ToolFormat;
  text: string;
  content: string;
  calls: ExpectedCall[];
  /** Marker text that must not appear in the content. */
  markers: string[];
  /** Exactly the shape a forcing grammar produces (no damage, no content, canonical keys). */
  canonical?: boolean;
}

export const TOOLS = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather",
      parameters: {
        type: "object",
        properties: {
          location: { type: "string", description: "City" },
          unit: { type: "string", enum: ["c", "f"], description: "Unit" },
        },
        required: ["location"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "write_file",
      description: "Write a file",
      parameters: {
        type: "object",
        properties: {
          path: { type: "string", description: "Path" },
          content: { type: "string", description: "Text" },
        },
        required: ["path", "content"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "plan_trip",
      description: "Plan a trip",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string" },
          days: { type: "integer", minimum: 1, maximum: 30 },
          budget: { type: "number" },
          refundable: { type: "boolean" },
          depart: { type: "string", format: "date" },
          tags: { type: "array", items: { type: "string" }, maxItems: 3 },
          seat: { type: "string", enum: ["aisle", "window"] },
          prefs: {
            type: "object",
            properties: { meal: { type: "string" }, quiet: { type: "boolean" } },
            required: ["meal"],
            additionalProperties: false,
          },
          note: { type: ["string", "null"] },
        },
        required: ["city", "days"],
        additionalProperties: false,
      },
    },
  },
];

const WEATHER: ExpectedCall = {
  name: "get_weather",
  arguments: { location: 'Paris, "FR"', unit: "c" },
};
const WRITE: ExpectedCall = {
  name: "write_file",
  arguments: {
    path: "src/a b.ts",
    content: 'const s = "</tool_call> [TOOL_CALLS] <tool_call>";\n\tconsole.log(s, "é😀\\\\");\n',
  },
};

/** Every type but null (the template renderer cannot write null with `| string`). */
const TRIP: ExpectedCall = {
  name: "plan_trip",
  arguments: {
    city: "Lyon <old town>",
    days: 3,
    budget: 1250.5,
    refundable: false,
    depart: "2025-06-01",
    tags: ["food", "wine <red>"],
    seat: "aisle",
    prefs: { meal: "veg", quiet: true },
  },
};

const templates = new URL("./templates/", import.meta.url);

/**
 * The assistant turn a template renders for these calls, up to `end`, minus `skip`. The
 * turn starts where the prompt (rendered with a generation prompt) ends, or, for templates
 * whose prompt is no prefix of the history (they rewrite the reasoning of earlier turns),
 * after the last `from`.
 */
function rendered(
  file: string,
  calls: ExpectedCall[],
  content: string,
  end: string,
  skip = "",
  from?: string,
): string {
  const tpl = new Template(Deno.readTextFileSync(new URL(file, templates)));
  const user = [{ role: "user", content: "Do it." }];
  const ctx = { tools: TOOLS, bos_token: "<s>", eos_token: "</s>" };
  const prompt = tpl.render({ ...ctx, messages: user, add_generation_prompt: true });
  const full = tpl.render({
    ...ctx,
    add_generation_prompt: false,
    messages: [
      ...user,
      {
        role: "assistant",
        content,
        tool_calls: calls.map((c, i) => ({
          id: `abcdefgh${i}`,
          type: "function",
          function: { name: c.name, arguments: c.arguments },
        })),
      },
    ],
  });
  let turn: string;
  if (from !== undefined) {
    const at = full.lastIndexOf(from);
    if (at < 0) throw new Error(`${file}: no ${JSON.stringify(from)}`);
    turn = full.slice(at + from.length);
  } else {
    if (!full.startsWith(prompt)) throw new Error(`${file}: the prompt is not a prefix`);
    turn = full.slice(prompt.length);
  }
  if (!turn.startsWith(skip)) throw new Error(`${file}: expected ${JSON.stringify(skip)}`);
  turn = turn.slice(skip.length);
  const at = turn.lastIndexOf(end);
  if (at < 0) throw new Error(`${file}: no ${JSON.stringify(end)} in ${JSON.stringify(turn)}`);
  return turn.slice(0, at);
}

const HERMES = ["<tool_call>", "</tool_call>"];
const QWEN_XML = [...HERMES, "<function=", "</function>", "<parameter=", "</parameter>"];
const GLM_XML = [...HERMES, "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>"];
const MINIMAX_XML = [
  "<minimax:tool_call>",
  "</minimax:tool_call>",
  '<invoke name="',
  "</invoke>",
  '<parameter name="',
  "</parameter>",
];
const MISTRAL = ["[TOOL_CALLS]", "[ARGS]", "[CALL_ID]"];
const LLAMA = ["<|python_tag|>"];

export function renderedGenerations(): Generation[] {
  return [
    {
      name: "Qwen2.5: text, then one call",
      format: "hermes",
      text: rendered("Qwen-Qwen2.5-7B-Instruct.jinja", [WEATHER], "Let me check.", "<|im_end|>"),
      content: "Let me check.",
      calls: [WEATHER],
      markers: HERMES,
    },
    {
      name: "Qwen2.5: two parallel calls",
      format: "hermes",
      text: rendered("Qwen-Qwen2.5-7B-Instruct.jinja", [WEATHER, WRITE], "", "<|im_end|>"),
      content: "",
      calls: [WEATHER, WRITE],
      markers: HERMES,
      canonical: true,
    },
    {
      name: "Qwen3: one call after (stripped) empty reasoning",
      format: "hermes",
      text: rendered(
        "Qwen-Qwen3-0.6B.jinja",
        [WRITE],
        "",
        "<|im_end|>",
        "<think>\n\n</think>\n\n",
      ),
      content: "",
      calls: [WRITE],
      markers: HERMES,
      canonical: true,
    },
    {
      name: "Granite 4.0: two calls",
      format: "hermes",
      text: rendered("ibm-granite-granite-4.0.jinja", [WRITE, WEATHER], "", "<|end_of_text|>"),
      content: "",
      calls: [WRITE, WEATHER],
      markers: HERMES,
      canonical: true,
    },
    {
      name: "Llama 3.1: one JSON call",
      format: "llama3",
      text: rendered("meta-llama-Llama-3.1-8B-Instruct.jinja", [WEATHER], "", "<|eot_id|>"),
      content: "",
      calls: [WEATHER],
      markers: LLAMA,
      canonical: true,
    },
    {
      name: "Llama 3.2: one JSON call",
      format: "llama3",
      text: rendered("meta-llama-Llama-3.2-3B-Instruct.jinja", [WRITE], "", "<|eot_id|>"),
      content: "",
      calls: [WRITE],
      markers: LLAMA,
      canonical: true,
    },
    {
      name: "Mistral Nemo: a list of two calls",
      format: "mistral",
      text: rendered("mistralai-Mistral-Nemo-Instruct-2407.jinja", [WEATHER, WRITE], "", "</s>"),
      content: "",
      calls: [WEATHER, WRITE],
      markers: MISTRAL,
      canonical: true,
    },
    {
      name: "Devstral: name[ARGS] calls",
      format: "mistral",
      text: rendered("unsloth-mistral-Devstral-Small-2507.jinja", [WRITE, WEATHER], "", "</s>"),
      content: "",
      calls: [WRITE, WEATHER],
      markers: MISTRAL,
      canonical: true,
    },
    {
      name: "Mistral Small 3.2: name[CALL_ID]id[ARGS] call",
      format: "mistral",
      text: rendered("Mistral-Small-3.2-24B-Instruct-2506.jinja", [WEATHER], "", "</s>"),
      content: "",
      calls: [WEATHER],
      markers: MISTRAL,
      canonical: true,
    },
    {
      name: "Qwen3-Coder: text, then one XML call",
      format: "qwen_xml",
      text: rendered("Qwen3-Coder.jinja", [WEATHER], "Let me check.", "<|im_end|>"),
      content: "Let me check.",
      calls: [WEATHER],
      markers: QWEN_XML,
    },
    {
      name: "Qwen3-Coder: three parallel XML calls, typed values",
      format: "qwen_xml",
      text: rendered("Qwen3-Coder.jinja", [WEATHER, WRITE, TRIP], "", "<|im_end|>"),
      content: "",
      calls: [WEATHER, WRITE, TRIP],
      markers: QWEN_XML,
      canonical: true,
    },
    {
      name: "Qwen3.5: typed XML call after (stripped) reasoning",
      format: "qwen_xml",
      text: rendered("Qwen3.5-4B.jinja", [TRIP], "", "<|im_end|>", "\n</think>\n\n"),
      content: "",
      calls: [TRIP],
      markers: QWEN_XML,
      canonical: true,
    },
    {
      name: "Nemotron 3 Nano: two XML calls",
      format: "qwen_xml",
      text: rendered(
        "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja",
        [WRITE, TRIP],
        "",
        "<|im_end|>",
        "<think></think>",
        "<|im_start|>assistant\n",
      ),
      content: "",
      calls: [WRITE, TRIP],
      markers: QWEN_XML,
      canonical: true,
    },
    {
      name: "GLM 4.6: text, then two calls with arg_key/arg_value",
      format: "glm_xml",
      text: rendered("GLM-4.6.jinja", [WEATHER, TRIP], "Let me see.", "", "\n<think></think>\n"),
      content: "Let me see.",
      calls: [WEATHER, TRIP],
      markers: GLM_XML,
    },
    {
      name: "GLM 4.6: two calls",
      format: "glm_xml",
      text: rendered("GLM-4.6.jinja", [WRITE, TRIP], "", "", "\n<think></think>"),
      content: "",
      calls: [WRITE, TRIP],
      markers: GLM_XML,
      canonical: true,
    },
    {
      name: "GLM 4.7: calls without newlines",
      format: "glm_xml",
      text: rendered("GLM-4.7-Flash.jinja", [TRIP, WRITE], "", "", "</think>", "<|assistant|>"),
      content: "",
      calls: [TRIP, WRITE],
      markers: GLM_XML,
      canonical: true,
    },
    {
      name: "MiniMax M2: three invokes in one block",
      format: "minimax_xml",
      text: rendered("MiniMax-M2.jinja", [WEATHER, WRITE, TRIP], "", "[e~[", "", "]~b]ai\n"),
      content: "",
      calls: [WEATHER, WRITE, TRIP],
      markers: MINIMAX_XML,
      canonical: true,
    },
  ];
}

export const HANDWRITTEN: Generation[] = [
  {
    name: "hermes: arguments as a JSON string, text before",
    format: "hermes",
    text: 'I will write it.\n\n<tool_call>\n{"name": "write_file", "arguments": ' +
      JSON.stringify(JSON.stringify(WRITE.arguments)) + "}\n</tool_call>",
    content: "I will write it.",
    calls: [WRITE],
    markers: HERMES,
  },
  {
    name: "hermes: arguments before name, no whitespace",
    format: "hermes",
    text: '<tool_call>{"arguments":{"location":"Oslo"},"name":"get_weather"}</tool_call>',
    content: "",
    calls: [{ name: "get_weather", arguments: { location: "Oslo" } }],
    markers: HERMES,
  },
  {
    name: "hermes: missing closing brace and close tag, text after",
    format: "hermes",
    text: '<tool_call>\n{"name": "get_weather", "arguments": {"location": "Rome"}\n</tool_call>\n' +
      '<tool_call>{"name": "get_weather", "arguments": {"location": "Oslo"}}\nDone for now.',
    content: "Done for now.",
    calls: [
      { name: "get_weather", arguments: { location: "Rome" } },
      { name: "get_weather", arguments: { location: "Oslo" } },
    ],
    markers: HERMES,
  },
  {
    name: "hermes: raw newline and trailing comma repaired",
    format: "hermes",
    text: '<tool_call>{"name": "write_file", "arguments": {"path": "a.txt", "content": "x\ny",}}' +
      "</tool_call>",
    content: "",
    calls: [{ name: "write_file", arguments: { path: "a.txt", content: "x\ny" } }],
    markers: HERMES,
  },
  {
    name: "hermes: damaged arguments closed at the last member, rest of the call dropped",
    format: "hermes",
    text: '<tool_call>{"name": "write_file", "arguments": {"path": "a.txt" "content": "x"}}' +
      "</tool_call> ok",
    content: "ok",
    calls: [{ name: "write_file", arguments: { path: "a.txt" } }],
    markers: HERMES,
  },
  {
    name: "hermes: cut off inside the arguments",
    format: "hermes",
    text: '<tool_call>\n{"name": "write_file", "arguments": {"path": "a.txt", "content": "par',
    content: "",
    calls: [{ name: "write_file", arguments: { path: "a.txt", content: "par" } }],
    markers: HERMES,
  },
  {
    name: "hermes: unknown tool stays content, known one is a call",
    format: "hermes",
    text: '<tool_call>\n{"name": "rm_rf", "arguments": {}}\n</tool_call>\n' +
      '<tool_call>\n{"name": "get_weather", "arguments": {"location": "Lima"}}\n</tool_call>',
    content: '<tool_call>\n{"name": "rm_rf", "arguments": {}}\n</tool_call>',
    calls: [{ name: "get_weather", arguments: { location: "Lima" } }],
    markers: [],
  },
  {
    name: "hermes: not JSON inside the markers stays content",
    format: "hermes",
    text: "Use <tool_call>get_weather(Paris)</tool_call> like this.",
    content: "Use <tool_call>get_weather(Paris)</tool_call> like this.",
    calls: [],
    markers: [],
  },
  {
    name: "hermes: text that merely looks like a marker",
    format: "hermes",
    text: "Tags like <tool_cal> or <tool and < are fine.\n",
    content: "Tags like <tool_cal> or <tool and < are fine.\n",
    calls: [],
    markers: [],
  },
  {
    name: "llama3: python tag, two calls separated by ';'",
    format: "llama3",
    text: '<|python_tag|>{"name": "get_weather", "parameters": {"location": "Paris"}}; ' +
      '{"type": "function", "name": "get_weather", "parameters": {"location": "Oslo", "unit": "f"}}',
    content: "",
    calls: [
      { name: "get_weather", arguments: { location: "Paris" } },
      { name: "get_weather", arguments: { location: "Oslo", unit: "f" } },
    ],
    markers: LLAMA,
  },
  {
    name: "llama3: a JSON answer that is not a call",
    format: "llama3",
    text: '{"answer": 42, "name": "get_weather"}',
    content: '{"answer": 42, "name": "get_weather"}',
    calls: [],
    markers: [],
  },
  {
    name: "llama3: plain text mentioning JSON later",
    format: "llama3",
    text: 'Sure: {"name": "get_weather", "parameters": {}} is how I would call it.',
    content: 'Sure: {"name": "get_weather", "parameters": {}} is how I would call it.',
    calls: [],
    markers: [],
  },
  {
    name: "mistral: text before the calls",
    format: "mistral",
    text: 'Checking both.[TOOL_CALLS][{"name": "get_weather", "arguments": {"location": "A"}}, ' +
      '{"name": "get_weather", "arguments": {"location": "B"}}]',
    content: "Checking both.",
    calls: [
      { name: "get_weather", arguments: { location: "A" } },
      { name: "get_weather", arguments: { location: "B" } },
    ],
    markers: MISTRAL,
  },
  {
    name: "mistral: unknown name in the new form stays content",
    format: "mistral",
    text: '[TOOL_CALLS]launch[ARGS]{"x": 1}',
    content: '[TOOL_CALLS]launch[ARGS]{"x": 1}',
    calls: [],
    markers: [],
  },
  {
    name: "json: a list of calls",
    format: "json",
    text: '[{"name": "get_weather", "arguments": {"location": "Kyiv"}}, ' +
      '{"name": "write_file", "arguments": {"path": "p", "content": ""}}]',
    content: "",
    calls: [
      { name: "get_weather", arguments: { location: "Kyiv" } },
      { name: "write_file", arguments: { path: "p", content: "" } },
    ],
    markers: [],
    canonical: true,
  },
  {
    name: "json: one call object",
    format: "json",
    text: '\n{"name": "get_weather", "arguments": {"location": "Quito"}}\n',
    content: "",
    calls: [{ name: "get_weather", arguments: { location: "Quito" } }],
    markers: [],
    canonical: true,
  },
  {
    name: "json: an ordinary JSON list is content",
    format: "json",
    text: '[{"city": "Quito"}, 2]',
    content: '[{"city": "Quito"}, 2]',
    calls: [],
    markers: [],
  },
  {
    name: "qwen_xml: no <tool_call>, Python literals, null",
    format: "qwen_xml",
    text: "Sure.\n<function=plan_trip>\n<parameter=city>\nLyon\n</parameter>\n" +
      "<parameter=days>\n 3 \n</parameter>\n<parameter=refundable>\nFalse\n</parameter>\n" +
      "<parameter=note>\nNone\n</parameter>\n</function>\n</tool_call>",
    content: "Sure.",
    calls: [{
      name: "plan_trip",
      arguments: { city: "Lyon", days: 3, refundable: false, note: null },
    }],
    markers: QWEN_XML,
  },
  {
    name: "qwen_xml: one line, and a closing tag inside a value",
    format: "qwen_xml",
    text: "<tool_call><function=write_file><parameter=path>a.html</parameter>" +
      "<parameter=content><p>x</parameter> y</p>\n</parameter></function></tool_call>",
    content: "",
    calls: [{
      name: "write_file",
      arguments: { path: "a.html", content: "<p>x</parameter> y</p>" },
    }],
    markers: QWEN_XML,
  },
  {
    name: "qwen_xml: a closing tag inside a JSON value",
    format: "qwen_xml",
    text: "<tool_call>\n<function=plan_trip>\n<parameter=city>\nX\n</parameter>\n" +
      '<parameter=days>\n2\n</parameter>\n<parameter=tags>\n["</parameter> <b>"]\n' +
      "</parameter>\n</function>\n</tool_call>",
    content: "",
    calls: [{ name: "plan_trip", arguments: { city: "X", days: 2, tags: ["</parameter> <b>"] } }],
    markers: QWEN_XML,
  },
  {
    name: "qwen_xml: unknown tool stays content, known one is a call",
    format: "qwen_xml",
    text: "<tool_call>\n<function=rm_rf>\n<parameter=path>\n/\n</parameter>\n</function>\n" +
      "</tool_call>\n<tool_call>\n<function=get_weather>\n<parameter=location>\nLima\n" +
      "</parameter>\n</function>\n</tool_call>",
    content: "<tool_call>\n<function=rm_rf>\n<parameter=path>\n/\n</parameter>\n</function>\n" +
      "</tool_call>",
    calls: [{ name: "get_weather", arguments: { location: "Lima" } }],
    markers: [],
  },
  {
    name: "qwen_xml: cut off inside a string value",
    format: "qwen_xml",
    text: "<tool_call>\n<function=write_file>\n<parameter=path>\na.txt\n</parameter>\n" +
      "<parameter=content>\npar",
    content: "",
    calls: [{ name: "write_file", arguments: { path: "a.txt", content: "par" } }],
    markers: QWEN_XML,
  },
  {
    name: "qwen_xml: cut off inside a closing tag and a typed value",
    format: "qwen_xml",
    text: "<tool_call>\n<function=plan_trip>\n<parameter=city>\nOslo\n</parameter>\n" +
      "<parameter=days>\n12\n</para",
    content: "",
    calls: [{ name: "plan_trip", arguments: { city: "Oslo", days: 12 } }],
    markers: QWEN_XML,
  },
  {
    name: "qwen_xml: damage after the announcement keeps the parameters before it",
    format: "qwen_xml",
    text: "<tool_call>\n<function=get_weather>\n<parameter=location>\nRome\n</parameter>\n" +
      "<parameter=<unit>\nc\n</parameter>\n</function>\n</tool_call>\nDone.",
    content: "Done.",
    calls: [{ name: "get_weather", arguments: { location: "Rome" } }],
    markers: QWEN_XML,
  },
  {
    name: "qwen_xml: a mistyped value stays text, a repeated parameter is dropped",
    format: "qwen_xml",
    text: "<tool_call>\n<function=plan_trip>\n<parameter=city>\nNice\n</parameter>\n" +
      "<parameter=days>\nthree\n</parameter>\n<parameter=city>\nCannes\n</parameter>\n" +
      "</tool_call>",
    content: "",
    calls: [{ name: "plan_trip", arguments: { city: "Nice", days: "three" } }],
    markers: QWEN_XML,
  },
  {
    name: "qwen_xml: two functions in one block, text after",
    format: "qwen_xml",
    text: "<tool_call>\n<function=get_weather>\n<parameter=location>\nA\n</parameter>\n" +
      "</function>\n<function=get_weather>\n<parameter=location>\nB\n</parameter>\n" +
      "<parameter=unit>\nf\n</parameter>\n</function>\n</tool_call>\n\nBoth done.",
    content: "Both done.",
    calls: [
      { name: "get_weather", arguments: { location: "A" } },
      { name: "get_weather", arguments: { location: "B", unit: "f" } },
    ],
    markers: QWEN_XML,
  },
  {
    name: "qwen_xml: text that merely looks like the tags",
    format: "qwen_xml",
    text: "#include <functional> then <function> and <tool_call >, <parameter=x>.\n",
    content: "#include <functional> then <function> and <tool_call >, <parameter=x>.\n",
    calls: [],
    markers: [],
  },
  {
    name: "glm_xml: Hermes JSON inside <tool_call> is not a GLM call",
    format: "glm_xml",
    text: '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>',
    content: '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>',
    calls: [],
    markers: [],
  },
  {
    name: "glm_xml: unknown tool stays content, then a call without arguments",
    format: "glm_xml",
    text: "<tool_call>rm_rf\n<arg_key>path</arg_key>\n<arg_value>/</arg_value>\n</tool_call>\n" +
      "<tool_call>get_weather</tool_call>",
    content: "<tool_call>rm_rf\n<arg_key>path</arg_key>\n<arg_value>/</arg_value>\n</tool_call>",
    calls: [{ name: "get_weather", arguments: {} }],
    markers: [],
  },
  {
    name: "glm_xml: cut off inside a closing tag",
    format: "glm_xml",
    text: "Writing.\n<tool_call>write_file\n<arg_key>path</arg_key>\n<arg_value>a.txt</arg_value>" +
      "\n<arg_key>content</arg_key>\n<arg_value>x\n</arg_val",
    content: "Writing.",
    calls: [{ name: "write_file", arguments: { path: "a.txt", content: "x\n" } }],
    markers: GLM_XML,
  },
  {
    name: "minimax_xml: an unknown invoke between known ones stays content",
    format: "minimax_xml",
    text: 'Checking.\n<minimax:tool_call>\n<invoke name="get_weather">\n' +
      '<parameter name="location">Bern</parameter>\n</invoke>\n<invoke name="rm">\n' +
      '<parameter name="x">1</parameter>\n</invoke>\n<invoke name="plan_trip">\n' +
      '<parameter name="city">Bern</parameter>\n<parameter name="days">2</parameter>\n' +
      '<parameter name="note">null</parameter>\n</invoke>\n</minimax:tool_call>',
    content: 'Checking.<invoke name="rm">\n<parameter name="x">1</parameter>\n</invoke>',
    calls: [
      { name: "get_weather", arguments: { location: "Bern" } },
      { name: "plan_trip", arguments: { city: "Bern", days: 2, note: null } },
    ],
    markers: [],
  },
  {
    name: "none: everything is content",
    format: "none",
    text: '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>  ',
    content: '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>  ',
    calls: [],
    markers: [],
  },
];
