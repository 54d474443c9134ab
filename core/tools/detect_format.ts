/**
 * Which tool-call format a model writes, read from its chat template and the texts of its
 * special/control tokens — never from its name.
 *
 * Order: the template decides first (it is what the model was trained to read and write),
 * then the vocabulary. Templates that write XML calls are told apart by their tags, the way
 * llama.cpp (common/chat.cpp) does: `<tool_call>` with `<function=` and `<parameter=`
 * (Qwen3-Coder, Qwen3.5, Nemotron 3), `<tool_call>` with `<arg_key>` and `<arg_value>`
 * (GLM 4.5+), `<minimax:tool_call>` with `<invoke name=` (MiniMax M2). Any other XML inside
 * `<tool_call>` (`<invoke` behind MiniMax M3's namespace token) is a format no parser here
 * reads: it is reported as `none` rather than misread as Hermes JSON.
 */
import { TOOL_MARKERS, type ToolFormat } from "./format.ts";
import { XML_DIALECTS, type XmlToolFormat } from "./xml_dialect.ts";

export interface ToolFormatEvidence {
  /** `tokenizer.chat_template` from the GGUF, if any. */
  chatTemplate: string | undefined;
  /** Texts of the vocabulary's special/control tokens. */
  specialTokens: readonly string[];
}

/** Inside `<tool_call>`, these mean XML arguments rather than a JSON object. */
const XML_CALL_BODY = ["<function=", "<arg_key>", "<invoke"];

/** Tags a template must all contain to write each XML format. */
const XML_TEMPLATE_TAGS: [XmlToolFormat, string[]][] = [
  ["qwen_xml", [XML_DIALECTS.qwen_xml.open, "<function=", "<parameter="]],
  ["glm_xml", [XML_DIALECTS.glm_xml.open, "<arg_key>", "<arg_value>"]],
  ["minimax_xml", [XML_DIALECTS.minimax_xml.open, "<invoke name="]],
];

/** Special tokens that only an XML format's vocabulary has. */
const XML_VOCAB_TAGS: [XmlToolFormat, string[]][] = [
  ["glm_xml", [XML_DIALECTS.glm_xml.open, "<arg_key>", "<arg_value>"]],
  ["minimax_xml", [XML_DIALECTS.minimax_xml.open]],
];

export function detectToolFormat(evidence: ToolFormatEvidence): ToolFormat {
  const tpl = evidence.chatTemplate ?? "";
  const vocab = new Set(evidence.specialTokens);

  if (tpl.includes(TOOL_MARKERS.mistralCalls)) return "mistral";
  for (const [format, tags] of XML_TEMPLATE_TAGS) {
    if (tags.every((t) => tpl.includes(t))) return format;
  }
  if (tpl.includes(TOOL_MARKERS.hermesOpen)) {
    return XML_CALL_BODY.some((m) => tpl.includes(m)) ? "none" : "hermes";
  }
  if (tpl.includes(TOOL_MARKERS.pythonTag) || emitsLlamaParameters(tpl)) return "llama3";

  if (vocab.has(TOOL_MARKERS.mistralCalls)) return "mistral";
  for (const [format, tags] of XML_VOCAB_TAGS) {
    if (tags.every((t) => vocab.has(t))) return format;
  }
  if (vocab.has(TOOL_MARKERS.hermesOpen)) return "hermes";
  if (vocab.has(TOOL_MARKERS.pythonTag) || vocab.has("<|eom_id|>")) return "llama3";

  return mentionsTools(tpl) ? "json" : "none";
}

/**
 * Llama 3.x templates describe or render calls as `{"name": …, "parameters": …}` on one line.
 * Lines that also carry `"description"` are tool *definitions* (Cohere, others), not calls.
 */
function emitsLlamaParameters(tpl: string): boolean {
  for (const line of tpl.split("\n")) {
    const at = line.indexOf('{"name": ');
    if (at < 0) continue;
    const rest = line.slice(at);
    const p = rest.indexOf('"parameters": ');
    if (p > 0 && !rest.slice(0, p).includes('"description"')) return true;
  }
  return false;
}

/** The template reads the `tools` variable. */
function mentionsTools(tpl: string): boolean {
  return /\btools\b/.test(tpl);
}
