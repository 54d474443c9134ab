import assert from "node:assert/strict";
import { detectToolFormat } from "./detect_format.ts";
import type { ToolFormat } from "./format.ts";

const dir = new URL("./testdata/templates/", import.meta.url);
const template = (file: string) => Deno.readTextFileSync(new URL(file, dir));

Deno.test("real chat templates map to their formats", () => {
  const expected: Record<string, ToolFormat> = {
    "Qwen-Qwen2.5-7B-Instruct.jinja": "hermes",
    "Qwen-Qwen3-0.6B.jinja": "hermes",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": "hermes",
    "ibm-granite-granite-4.0.jinja": "hermes",
    "meta-llama-Llama-3.1-8B-Instruct.jinja": "llama3",
    "meta-llama-Llama-3.2-3B-Instruct.jinja": "llama3",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": "mistral",
    "unsloth-mistral-Devstral-Small-2507.jinja": "mistral",
    "Mistral-Small-3.2-24B-Instruct-2506.jinja": "mistral",
    // XML calls: <function=…> with <parameter=…>, GLM's <arg_key>/<arg_value>, MiniMax's <invoke>.
    "Qwen3-Coder.jinja": "qwen_xml",
    "Qwen3.5-4B.jinja": "qwen_xml",
    "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja": "qwen_xml",
    "GLM-4.6.jinja": "glm_xml",
    "GLM-4.7-Flash.jinja": "glm_xml",
    "MiniMax-M2.jinja": "minimax_xml",
    // XML inside <tool_call> behind a namespace token: not Hermes JSON, and no parser reads it.
    "MiniMax-M3.jinja": "none",
    // Reads `tools` but uses no marker we know: plain JSON is the best guess.
    "Cohere2MoE.jinja": "json",
    "google-gemma-2-2b-it.jinja": "none",
    "microsoft-Phi-3.5-mini-instruct.jinja": "none",
  };
  for (const [file, format] of Object.entries(expected)) {
    assert.equal(
      detectToolFormat({ chatTemplate: template(file), specialTokens: [] }),
      format,
      file,
    );
  }
});

Deno.test("the vocabulary decides when the template says nothing", () => {
  const cases: [string[], ToolFormat][] = [
    [["<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]"], "mistral"],
    [["<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>"], "hermes"],
    [["<|begin_of_text|>", "<|eot_id|>", "<|python_tag|>"], "llama3"],
    [["<|begin_of_text|>", "<|eom_id|>"], "llama3"],
    [["[gMASK]", "<tool_call>", "</tool_call>", "<arg_key>", "<arg_value>"], "glm_xml"],
    [["<minimax:tool_call>", "</minimax:tool_call>"], "minimax_xml"],
    [["<s>", "</s>"], "none"],
  ];
  for (const [vocab, format] of cases) {
    assert.equal(detectToolFormat({ chatTemplate: undefined, specialTokens: vocab }), format);
    assert.equal(
      detectToolFormat({ chatTemplate: "{{ messages }}", specialTokens: vocab }),
      format,
    );
  }
});

Deno.test("the template wins over the vocabulary", () => {
  const qwen = template("Qwen-Qwen2.5-7B-Instruct.jinja");
  assert.equal(detectToolFormat({ chatTemplate: qwen, specialTokens: ["[TOOL_CALLS]"] }), "hermes");
});

Deno.test("XML formats need all their tags in the template", () => {
  const detect = (tpl: string) => detectToolFormat({ chatTemplate: tpl, specialTokens: [] });
  assert.equal(detect("<tool_call>\n<function={{ name }}>\n<parameter={{ k }}>"), "qwen_xml");
  // <function= alone inside <tool_call> is some other XML: not Hermes, not Qwen's.
  assert.equal(detect("<tool_call>\n<function={{ name }}>{{ args | tojson }}"), "none");
  assert.equal(detect("<tool_call>{{ name }}<arg_key>{{ k }}</arg_key><arg_value>"), "glm_xml");
  assert.equal(detect('<minimax:tool_call>\n<invoke name="{{ name }}">'), "minimax_xml");
  assert.equal(detect("<minimax:tool_call>{{ tools }}"), "json");
});

Deno.test("a template that reads tools without markers falls back to json", () => {
  const tpl =
    "{% if tools %}{{ tools | tojson }}{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}";
  assert.equal(detectToolFormat({ chatTemplate: tpl, specialTokens: ["<s>"] }), "json");
  assert.equal(detectToolFormat({ chatTemplate: "{{ toolsy }}", specialTokens: [] }), "none");
});

Deno.test("tool definitions that list parameters are not Llama calls", () => {
  const tpl =
    '{"name": "{{ t.name }}", "description": "{{ t.description }}", "parameters": {{ t.parameters | tojson }}} {{ tools }}';
  assert.equal(detectToolFormat({ chatTemplate: tpl, specialTokens: [] }), "json");
});
