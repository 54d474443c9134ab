/**
 * Which tool-call format a model writes, read from its chat template and the texts of its
 * special/control tokens — never from its name.
 *
 * Order: the template decides first (it is what the model was trained to read and write),
 * then the vocabulary. A template that renders `<tool_call>` with XML inside
 * (`<function=…>`, `<arg_key>`, `<invoke …>`: Qwen3-Coder, Qwen3.5, GLM, MiniMax) is a
 * different format that no parser here reads: it is reported as `none` rather than
 * misread as Hermes JSON.
 */
import { TOOL_MARKERS, type ToolFormat } from "./format.ts";

export interface ToolFormatEvidence {
  /** `tokenizer.chat_template` from the GGUF, if any. */
  chatTemplate: string | undefined;
  /** Texts of the vocabulary's special/control tokens. */
  specialTokens: readonly string[];
}

/** Inside `<tool_call>`, these mean XML arguments rather than a JSON object. */
const XML_CALL_BODY = ["<function=", "<arg_key>", "<invoke"];

export function detectToolFormat(evidence: ToolFormatEvidence): ToolFormat {
  const tpl = evidence.chatTemplate ?? "";
  const vocab = new Set(evidence.specialTokens);

  if (tpl.includes(TOOL_MARKERS.mistralCalls)) return "mistral";
  if (tpl.includes(TOOL_MARKERS.hermesOpen)) {
    return XML_CALL_BODY.some((m) => tpl.includes(m)) ? "none" : "hermes";
  }
  if (tpl.includes(TOOL_MARKERS.pythonTag) || emitsLlamaParameters(tpl)) return "llama3";

  if (vocab.has(TOOL_MARKERS.mistralCalls)) return "mistral";
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
