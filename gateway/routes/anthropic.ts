/**
 * `POST /v1/messages` and `/v1/messages/count_tokens`: the Anthropic
 * dialect, translated to the neuron's OpenAI dialect and back (core/anthropic).
 */

import {
  anthropicSseFromOpenAI,
  AnthropicStreamTranslator,
  anthropicToOpenAI,
  countTokensRequestToOpenAI,
  encodeAnthropicEvents,
  openAIToAnthropic,
  parseCountTokensRequest,
  parseMessagesRequest,
  thinkingEnabled,
} from "../../core/anthropic/mod.ts";
import { anthropicErrorMessage, HttpError } from "../../core/errors.ts";
import { applyProfile, type Gateway, parseJsonBody, readBody, resolveModel } from "./common.ts";
import { conversationKey } from "../affinity.ts";
import { RequestContext } from "./openai.ts";
import { completeOnce, streamTranslated } from "./translated.ts";

const PING_MS = 5000;

export async function messages(gw: Gateway, req: Request): Promise<Response> {
  const t0 = performance.now();
  const raw = parseJsonBody(await readBody(req, gw.options.maxBodyBytes));
  const areq = parseMessagesRequest(raw);
  const entry = resolveModel(gw, areq.model, "anthropic");
  const limit = entry.profile.max_output_tokens ?? entry.contextLength ?? undefined;
  const { request, droppedTools } = anthropicToOpenAI(areq, { maxOutputTokens: limit });
  const thinking = thinkingEnabled(areq.thinking);
  const body = request as unknown as Record<string, unknown>;
  applyProfile(body, entry, "messages");
  if (areq.stream) body.stream_options = { include_usage: true };
  const payload = JSON.stringify(body);
  const ctx = new RequestContext(gw, entry, "messages", t0, req);
  ctx.conversation = () => conversationKey(req.headers, body);

  if (!areq.stream) {
    const completion = await completeOnce(gw, req, ctx, entry, payload);
    return Response.json(openAIToAnthropic(completion, areq.model, { thinking, droppedTools }));
  }
  const t = new AnthropicStreamTranslator({ model: areq.model, thinking, droppedTools });
  return await streamTranslated(gw, req, ctx, entry, payload, {
    open: () => encodeAnthropicEvents(t.start()),
    // While a cold load (or a queue) holds the first token back, keep the client sure we live.
    keepalive: () => encodeAnthropicEvents(t.ping()),
    keepaliveMs: PING_MS,
    fail: (err) => encodeAnthropicEvents(t.fail(errorType(err.status), anthropicErrorMessage(err))),
    translate: (upstream) => anthropicSseFromOpenAI(upstream, t),
    complete: () => t.complete,
  });
}

function errorType(status: number): "api_error" | "overloaded_error" {
  return status === 503 || status === 529 || status === 429 ? "overloaded_error" : "api_error";
}

export async function countTokens(gw: Gateway, req: Request): Promise<Response> {
  const raw = parseJsonBody(await readBody(req, gw.options.maxBodyBytes));
  const creq = parseCountTokensRequest(raw);
  const entry = resolveModel(gw, creq.model, "anthropic");
  const { request } = countTokensRequestToOpenAI(creq);
  const { neuron } = await gw.lifecycle.acquire(entry, undefined, undefined, req.signal);
  const count = await neuron.client.tokenize({
    model: entry.id,
    messages: request.messages,
    tools: request.tools ?? undefined,
    chat_template_kwargs: request.chat_template_kwargs ?? undefined,
  }).catch((e) => {
    throw new HttpError(e.status >= 400 && e.status < 500 ? e.status : 502, e.message);
  });
  return Response.json({ input_tokens: count });
}
