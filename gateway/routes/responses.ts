/**
 * `POST /v1/responses` and `GET /v1/responses/{id}`: the OpenAI Responses
 * API over the neuron's chat dialect (core/responses), with
 * `previous_response_id` chains kept in a bounded in-memory store.
 */

import { HttpError } from "../../core/errors.ts";
import type { ChatCompletion } from "../../core/openai/mod.ts";
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
import {
  COMMIT_STREAM_AFTER_MS,
  guard,
  sendRouted,
  settlesWithin,
  StreamWatch,
  translatedHeaders,
} from "../proxy.ts";
import { upstreamError } from "./anthropic.ts";
import { applyProfile, type Gateway, parseJsonBody, readBody, resolveModel } from "./common.ts";
import { RequestContext } from "./openai.ts";

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
  const headers = translatedHeaders(req.headers);
  const ctx = new RequestContext(gw, entry, "responses", t0, req);
  const keep = (response: ResponseObject | null) => {
    if (response && rreq.store !== false) gw.responses.put(storedResponse(rreq, response));
  };

  if (!rreq.stream) {
    let res: Response;
    try {
      ({ res } = await sendRouted(
        gw,
        entry,
        "/v1/chat/completions",
        payload,
        headers,
        req.signal,
        ctx.routed,
      ));
    } catch (e) {
      ctx.end(e instanceof HttpError ? e.status : 502);
      throw e;
    }
    if (!res.ok) {
      ctx.end(res.status);
      throw await upstreamError(res);
    }
    const completion = await res.json() as ChatCompletion;
    const u = completion.usage;
    const ttft = Number(res.headers.get("x-cortex-ttft-ms") ?? NaN);
    ctx.end(
      200,
      u ? { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens } : null,
      Number.isFinite(ttft) ? ttft : undefined,
    );
    const response = chatToResponse(completion, { request: rreq, droppedTools, model: rreq.model });
    keep(response);
    return Response.json(response);
  }

  const translator = new ResponsesStreamTranslator({
    request: rreq,
    droppedTools,
    model: rreq.model,
  });
  const upstreamAbort = new AbortController();
  req.signal.addEventListener("abort", () => upstreamAbort.abort(), { once: true });
  const watch = new StreamWatch();
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const enc = new TextEncoder();
  let keepalive: ReturnType<typeof setInterval> | undefined;
  const routed = sendRouted(
    gw,
    entry,
    "/v1/chat/completions",
    payload,
    headers,
    upstreamAbort.signal,
    ctx.routed,
  );
  // A refusal known at once (no room, victims busy) keeps its status and Retry-After; only
  // a load that takes a while commits to a 200 stream that keeps the client company.
  if (await settlesWithin(routed, COMMIT_STREAM_AFTER_MS)) {
    const { res } = await routed.catch((e) => {
      ctx.end(e instanceof HttpError ? e.status : 502);
      throw e;
    });
    if (!res.ok || !res.body) {
      ctx.end(res.status);
      throw await upstreamError(res);
    }
  }
  const stream = new ReadableStream<Uint8Array>({
    async start(c) {
      c.enqueue(encodeResponsesEvents(translator.start()));
      keepalive = setInterval(() => c.enqueue(enc.encode(": keepalive\n\n")), 2000);
      try {
        const { res } = await routed;
        clearInterval(keepalive);
        if (!res.ok || !res.body) {
          const err = await upstreamError(res);
          c.enqueue(encodeResponsesEvents(translator.fail(err.message)));
          ctx.end(res.status);
          c.close();
          return;
        }
        const upstream = guard(res.body, {
          idleMs: gw.options.streamIdleMs,
          watch: (x) => watch.see(x),
        });
        reader = responsesSseFromOpenAI(upstream, translator).getReader();
      } catch (e) {
        clearInterval(keepalive);
        const err = e instanceof HttpError ? e : new HttpError(502, (e as Error).message);
        c.enqueue(encodeResponsesEvents(translator.fail(err.message)));
        ctx.end(err.status);
        c.close();
      }
    },
    async pull(c) {
      if (!reader) return;
      const { value, done } = await reader.read();
      if (done) {
        ctx.endStream(translator.complete ? "ok" : "upstream_failed", watch);
        keep(translator.response);
        c.close();
        return;
      }
      c.enqueue(value);
    },
    cancel() {
      clearInterval(keepalive);
      upstreamAbort.abort();
      ctx.endStream("client_closed", watch);
      return reader?.cancel();
    },
  }, { highWaterMark: 0 });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
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
