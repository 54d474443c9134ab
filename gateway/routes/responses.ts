/**
 * `POST /v1/responses` and `GET /v1/responses/{id}`: the OpenAI Responses
 * API over the neuron's chat dialect (core/responses), with
 * `previous_response_id` chains kept in a bounded in-memory store.
 */

import { HttpError } from "../../core/errors.ts";
import {
  chatToResponse,
  encodeResponsesEvents,
  findImageInput,
  historyFromChain,
  parseResponsesRequest,
  type ResponseObject,
  responsesSseFromOpenAI,
  ResponsesStreamTranslator,
  responsesToChat,
  storedResponse,
} from "../../core/responses/mod.ts";
import { applyProfile, type Gateway, parseJsonBody, readBody, resolveModel } from "./common.ts";
import { conversationKey } from "../affinity.ts";
import { RequestContext } from "./openai.ts";
import { completeOnce, streamTranslated } from "./translated.ts";

export async function createResponse(gw: Gateway, req: Request): Promise<Response> {
  const t0 = performance.now();
  const raw = parseJsonBody(await readBody(req, gw.options.maxBodyBytes));
  const rreq = parseResponsesRequest(raw);
  const image = findImageInput(rreq);
  if (image) {
    throw new HttpError(400, "this gateway's models take text only; images are not supported", {
      param: image,
      code: "unsupported_content",
    });
  }
  const entry = resolveModel(gw, rreq.model, "openai");
  const history = rreq.previous_response_id
    ? historyFromChain(gw.responses.chain(rreq.previous_response_id))
    : [];
  // As on /v1/messages: a max_output_tokens beyond what the model can give is clamped.
  const maxOutputTokens = entry.profile.max_output_tokens ?? entry.contextLength ?? undefined;
  const { request, droppedTools } = responsesToChat(rreq, { history, maxOutputTokens });
  const body = request as unknown as Record<string, unknown>;
  applyProfile(body, entry, "responses");
  const payload = JSON.stringify(body);
  const ctx = new RequestContext(gw, entry, "responses", t0, req);
  // The translated body holds the whole conversation (a previous_response_id's too).
  ctx.conversation = () =>
    conversationKey(req.headers, { ...body, prompt_cache_key: raw.prompt_cache_key });
  const keep = (response: ResponseObject | null) => {
    if (response && rreq.store !== false) gw.responses.put(storedResponse(rreq, response));
  };

  if (!rreq.stream) {
    const completion = await completeOnce(gw, req, ctx, entry, payload);
    const response = chatToResponse(completion, { request: rreq, droppedTools, model: rreq.model });
    keep(response);
    return Response.json(response);
  }
  const t = new ResponsesStreamTranslator({ request: rreq, droppedTools, model: rreq.model });
  const comment = new TextEncoder().encode(": keepalive\n\n");
  return await streamTranslated(gw, req, ctx, entry, payload, {
    open: () => encodeResponsesEvents(t.start()),
    keepalive: () => comment,
    keepaliveMs: 2000,
    fail: (err) => encodeResponsesEvents(t.fail(err.message)),
    translate: (upstream) => responsesSseFromOpenAI(upstream, t),
    complete: () => t.complete,
    onEnd: () => keep(t.response),
  });
}

export function getResponse(gw: Gateway, id: string): Response {
  const stored = gw.responses.get(id);
  if (!stored) {
    throw new HttpError(
      404,
      `no stored response ${id} (unknown, expired, or created with store: false)`,
      {
        param: "response_id",
        code: "response_not_found",
      },
    );
  }
  return Response.json(stored.response);
}
