/**
 * The GBNF grammar a chat request needs, if any: the caller's own `grammar`,
 * else one derived from `response_format` json_object / json_schema or a forced
 * tool call (`tool_choice` "required" or a named function). Schemas the
 * converter cannot enforce are refused with a 400 naming the keyword, never
 * silently ignored.
 */

import { HttpError } from "../../core/errors.ts";
import type { ChatCompletionRequest } from "../../core/openai/mod.ts";
import {
  jsonObjectGbnf,
  jsonSchemaToGbnf,
  toolCallGbnf,
  UnsupportedSchemaError,
} from "../../core/grammar/mod.ts";
import { TOOL_MARKERS, type ToolFormat } from "../../core/tools/format.ts";
import { XML_DIALECTS } from "../../core/tools/xml_dialect.ts";
import type { ModelRecord } from "../node.ts";

export interface ChatGrammar {
  gbnf: string;
  /**
   * Derived from response_format or tools: it describes the answer, so a reasoning block
   * the prompt opens runs before it, unconstrained. A raw `grammar` is applied as written.
   */
  answerOnly: boolean;
  /** Lazy: applies once the model emits this tool-call marker (tool_choice "auto"). */
  trigger?: string;
}

export function grammarFor(r: ChatCompletionRequest, rec: ModelRecord): ChatGrammar | undefined {
  const raw = rawGrammar(r);
  if (raw !== undefined) return { gbnf: raw, answerOnly: false };
  const gbnf = derivedGrammar(r, rec);
  if (gbnf !== undefined) return { gbnf, answerOnly: true };
  return autoToolGrammar(r, rec);
}

/**
 * The marker token a format's calls begin with, where its call grammar starts
 * with that marker too (a lazy grammar is fed its trigger token first). Llama 3
 * calls are bare JSON, so they get none.
 */
const CALL_MARKER: Partial<Record<ToolFormat, string>> = {
  hermes: TOOL_MARKERS.hermesOpen,
  mistral: TOOL_MARKERS.mistralCalls,
  qwen_xml: XML_DIALECTS.qwen_xml.open,
  glm_xml: XML_DIALECTS.glm_xml.open,
  minimax_xml: XML_DIALECTS.minimax_xml.open,
};

/**
 * With tool_choice "auto" the model may answer in text or call tools. A lazy
 * grammar leaves text free and, from the call marker on, keeps every call to
 * a known tool name with arguments valid for its schema (and to one call when
 * parallel_tool_calls is false). A schema the converter cannot enforce just
 * leaves calls unconstrained here: nothing forces a call.
 */
function autoToolGrammar(r: ChatCompletionRequest, rec: ModelRecord): ChatGrammar | undefined {
  const tools = r.tools ?? [];
  const choice = r.tool_choice ?? "auto";
  const marker = CALL_MARKER[rec.toolFormat];
  if (!tools.length || choice !== "auto" || !marker) return undefined;
  try {
    const gbnf = toolCallGbnf(tools, rec.toolFormat, { parallel: r.parallel_tool_calls ?? true });
    return { gbnf, answerOnly: false, trigger: marker };
  } catch (e) {
    if (e instanceof UnsupportedSchemaError) return undefined;
    throw e;
  }
}

function derivedGrammar(r: ChatCompletionRequest, rec: ModelRecord): string | undefined {
  const choice = r.tool_choice;
  const tools = r.tools ?? [];
  if (tools.length && (choice === "required" || (typeof choice === "object" && choice))) {
    if (rec.toolFormat === "none") {
      throw new HttpError(400, `model ${rec.key} has no tool-call format to enforce`, {
        param: "tool_choice",
        code: "unsupported_tool_choice",
      });
    }
    const forced = typeof choice === "object" ? choice.function.name : undefined;
    if (forced && !tools.some((t) => t.function.name === forced)) {
      throw new HttpError(400, `tool_choice names ${forced}, which is not among tools`, {
        param: "tool_choice.function.name",
        code: "invalid_value",
      });
    }
    return guard(
      "tools",
      () =>
        toolCallGbnf(tools, rec.toolFormat, {
          parallel: r.parallel_tool_calls ?? true,
          forcedName: forced,
        }),
    );
  }
  const f = r.response_format;
  if (!f || f.type === "text") return undefined;
  if (f.type === "json_object") return jsonObjectGbnf();
  return guard("response_format.json_schema.schema", () => jsonSchemaToGbnf(f.json_schema.schema));
}

/** llama.cpp's own `grammar` extension: GBNF given by the caller. */
export function rawGrammar(r: Record<string, unknown>): string | undefined {
  const g = r.grammar;
  if (g === undefined || g === null) return undefined;
  if (typeof g !== "string" || !g.trim()) {
    throw new HttpError(400, "grammar must be a non-empty GBNF string", {
      param: "grammar",
      code: "invalid_type",
    });
  }
  return g;
}

function guard(param: string, make: () => string): string {
  try {
    return make();
  } catch (e) {
    if (e instanceof UnsupportedSchemaError) {
      // The message already names the keyword and its place: `JSON Schema keyword "not" at …`.
      // A tool's schema is named by its index (its path starts /tools/<i>/function/parameters).
      const tool = /^\/tools\/(\d+)\/function\/parameters/.exec(e.path);
      throw new HttpError(400, e.message, {
        param: tool ? `tools[${tool[1]}].function.parameters` : param,
        code: "unsupported_schema",
      });
    }
    throw e;
  }
}
