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
import { HttpError } from "../../core/errors.ts";
import type { ChatCompletion } from "../../core/openai/mod.ts";
import {
  COMMIT_STREAM_AFTER_MS,
  guard,
  sendRouted,
  settlesWithin,
  StreamWatch,
  translatedHeaders,
} from "../proxy.ts";
import { applyProfile, type Gateway, parseJsonBody, readBody, resolveModel } from "./common.ts";
import { RequestContext } from "./openai.ts";

const PING_MS = 5000;

/** An upstream error body (OpenAI envelope) as an HttpError for the Anthropic dialect. */
export async function upstreamError(res: Response): Promise<HttpError> {
  const text = await res.text();
  let message = text || `neuron answered ${res.status}`;
  let param: string | null = null;
  try {
    const e = JSON.parse(text).error;
    message = e?.message ?? message;
    param = e?.param ?? null;
  } catch { /* not JSON */ }
  return new HttpError(res.status, message, { param });
}

export async function messages(gw: Gateway, req: Request): Promise<Response> {
  const t0 = performance.now();
  const raw = parseJsonBody(await readBody(req, gw.options.maxBodyBytes));
  const areq = parseMessagesRequest(raw);
  const entry = resolveModel(gw, areq.model, "anthropic");
  const limit = entry.profile.max_output_tokens ?? entry.contextLength ?? undefined;
  const { request } = anthropicToOpenAI(areq, { maxOutputTokens: limit });
  const thinking = thinkingEnabled(areq.thinking);
  const body = request as unknown as Record<string, unknown>;
  applyProfile(body, entry, "messages");
  if (areq.stream) body.stream_options = { include_usage: true };
  const payload = JSON.stringify(body);
  const headers = translatedHeaders(req.headers);
  const ctx = new RequestContext(gw, entry, "messages", t0, req);

  if (!areq.stream) {
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
    return Response.json(openAIToAnthropic(completion, areq.model, { thinking }));
  }

  const translator = new AnthropicStreamTranslator({ model: areq.model, thinking });
  const upstreamAbort = new AbortController();
  req.signal.addEventListener("abort", () => upstreamAbort.abort(), { once: true });
  const watch = new StreamWatch();
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let pinger: ReturnType<typeof setInterval> | undefined;
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
      c.enqueue(encodeAnthropicEvents(translator.start()));
      // While a cold load (or a queue) holds the first token back, keep the client sure we live.
      pinger = setInterval(() => c.enqueue(encodeAnthropicEvents(translator.ping())), PING_MS);
      try {
        const { res } = await routed;
        if (!res.ok || !res.body) {
          clearInterval(pinger);
          const err = await upstreamError(res);
          c.enqueue(encodeAnthropicEvents(translator.fail(errorType(err.status), err.message)));
          ctx.end(res.status);
          c.close();
          return;
        }
        const upstream = guard(res.body, {
          idleMs: gw.options.streamIdleMs,
          watch: (x) => {
            if (!watch.firstTokenAt) clearInterval(pinger);
            watch.see(x);
          },
        });
        reader = anthropicSseFromOpenAI(upstream, translator).getReader();
      } catch (e) {
        clearInterval(pinger);
        const err = e instanceof HttpError ? e : new HttpError(502, (e as Error).message);
        c.enqueue(encodeAnthropicEvents(translator.fail(errorType(err.status), err.message)));
        ctx.end(err.status);
        c.close();
      }
    },
    async pull(c) {
      if (!reader) return;
      const { value, done } = await reader.read();
      if (done) {
        clearInterval(pinger);
        ctx.endStream(translator.complete ? "ok" : "upstream_failed", watch);
        c.close();
        return;
      }
      c.enqueue(value);
    },
    cancel() {
      clearInterval(pinger);
      upstreamAbort.abort();
      ctx.endStream("client_closed", watch);
      return reader?.cancel();
    },
  }, { highWaterMark: 0 });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
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
  const { neuron } = await gw.lifecycle.acquire(entry);
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
