/**
 * `POST /tokenize`: token count of a prompt, or of chat messages rendered
 * exactly as a generation would render them (the gateway's count_tokens).
 */

import { HttpError } from "../../core/errors.ts";
import { TokenizeRequestSchema } from "../../core/neuron/schemas.ts";
import { ChatMessageSchema, FunctionToolSchema, parseOpenAIBody } from "../../core/openai/mod.ts";
import { EngineError } from "../engine/types.ts";
import type { Neuron } from "../node.ts";
import { engineHttpError, json } from "../server/http.ts";
import { toTemplateMessage } from "./chat.ts";
import { TemplateError } from "../chat/template.ts";
import { z } from "zod";

const Messages = z.array(ChatMessageSchema).min(1);
const Tools = z.array(FunctionToolSchema);

export async function tokenize(neuron: Neuron, body: unknown): Promise<Response> {
  const r = parseOpenAIBody(TokenizeRequestSchema, body);
  const rec = neuron.loaded(r.model);
  const info = rec.info!;
  let text: string;
  if (r.messages !== undefined) {
    const messages =
      parseOpenAIBody(z.object({ messages: Messages }), { messages: r.messages }).messages;
    const tools = parseOpenAIBody(z.object({ tools: Tools }), { tools: r.tools ?? [] }).tools;
    const kwargs: Record<string, unknown> = { ...r.chat_template_kwargs };
    kwargs.enable_thinking ??= false;
    try {
      text = rec.template!.render({
        messages: messages.map(toTemplateMessage),
        tools: tools.length ? tools : undefined,
        addGenerationPrompt: r.add_generation_prompt ?? true,
        kwargs,
      });
    } catch (e) {
      if (e instanceof TemplateError) throw new HttpError(400, e.message, { param: "messages" });
      throw e;
    }
  } else if (r.prompt !== undefined) {
    text = r.prompt;
  } else {
    throw new HttpError(400, "either prompt or messages is required", { param: "prompt" });
  }
  const addSpecial = info.addBos && !(info.bosText && text.startsWith(info.bosText));
  try {
    const tokens = await neuron.engine.tokenize(r.model, text, addSpecial);
    return json({
      model: r.model,
      count: tokens.length,
      ...(r.return_tokens ? { tokens } : {}),
    });
  } catch (e) {
    if (e instanceof EngineError) throw engineHttpError(e);
    throw e;
  }
}
