/**
 * The tags of the XML-style tool-call formats, as data: one parser (xml_call.ts) and one
 * grammar writer (core/grammar/tool_call_grammar.ts) read them all.
 *
 * Checked against the chat templates in testdata/templates (from llama.cpp v0.4.0
 * models/templates) and llama.cpp's own parser for them (common/chat.cpp,
 * common_chat_params_init_qwen3_coder).
 */
import type { ToolFormat } from "./format.ts";

export type XmlToolFormat = Extract<ToolFormat, "qwen_xml" | "glm_xml" | "minimax_xml">;

export interface XmlDialect {
  format: XmlToolFormat;
  /** Opens a block of calls; the marker the parser and a lazy grammar wait for. */
  open: string;
  /** Closes the block. */
  close: string;
  /** Written before a call's name ("": the name follows `open` directly). */
  nameOpen: string;
  /** Written after the name; undefined: the name ends at whitespace or the next tag. */
  nameClose: string | undefined;
  /** Ends one call; undefined: `close` does, so a block holds one call. */
  callClose: string | undefined;
  keyOpen: string;
  keyClose: string;
  /** Written between a parameter's name and its value ("" when `keyClose` opens it). */
  valueOpen: string;
  valueClose: string;
  /** Values sit between newlines that are not part of them (`>\nVALUE\n</parameter>`). */
  newlineWrapped: boolean;
  /**
   * A call may start with `nameOpen` alone: Qwen3-Coder sometimes leaves out `<tool_call>`
   * (llama.cpp accepts `<function=NAME>` for a known NAME as a call start for the same reason).
   */
  bareCalls: boolean;
}

export const XML_DIALECTS: Readonly<Record<XmlToolFormat, XmlDialect>> = {
  qwen_xml: {
    format: "qwen_xml",
    open: "<tool_call>",
    close: "</tool_call>",
    nameOpen: "<function=",
    nameClose: ">",
    callClose: "</function>",
    keyOpen: "<parameter=",
    keyClose: ">",
    valueOpen: "",
    valueClose: "</parameter>",
    newlineWrapped: true,
    bareCalls: true,
  },
  glm_xml: {
    format: "glm_xml",
    open: "<tool_call>",
    close: "</tool_call>",
    nameOpen: "",
    nameClose: undefined,
    callClose: undefined,
    keyOpen: "<arg_key>",
    keyClose: "</arg_key>",
    valueOpen: "<arg_value>",
    valueClose: "</arg_value>",
    newlineWrapped: false,
    bareCalls: false,
  },
  minimax_xml: {
    format: "minimax_xml",
    open: "<minimax:tool_call>",
    close: "</minimax:tool_call>",
    nameOpen: '<invoke name="',
    nameClose: '">',
    callClose: "</invoke>",
    keyOpen: '<parameter name="',
    keyClose: '">',
    valueOpen: "",
    valueClose: "</parameter>",
    newlineWrapped: false,
    bareCalls: false,
  },
};

/** The dialect of an XML format; undefined for the JSON formats and `none`. */
export function xmlDialect(format: ToolFormat): XmlDialect | undefined {
  return Object.hasOwn(XML_DIALECTS, format) ? XML_DIALECTS[format as XmlToolFormat] : undefined;
}
