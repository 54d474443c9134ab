/**
 * What the translated dialects (Anthropic Messages, OpenAI Responses) share:
 * sending the chat request they were translated to, and streaming the
 * neuron's chat stream back through a dialect's translator with keepalives
 * while a cold load holds the first token back.
 */

import { HttpError } from "../../core/errors.ts";
import type { ChatCompletion } from "../../core/openai/mod.ts";
import type { CatalogueEntry } from "../catalogue.ts";
import {
  COMMIT_STREAM_AFTER_MS,
  sendRouted,
  settlesWithin,
  translatedHeaders,
  usageHeader,
} from "../proxy.ts";
import { guard } from "../stream_guard.ts";
import { StreamWatch } from "../stream_watch.ts";
import type { Gateway } from "./common.ts";
import type { RequestContext } from "./openai.ts";

const CHAT = "/v1/chat/completions";

/** An upstream error body (OpenAI envelope) as an HttpError, for any dialect. */
export async function upstreamError(res: Response): Promise<HttpError> {
  const text = await res.text();
  let message = text || `neuron answered ${res.status}`;
  let param: string | null = null;
  let code: string | null = null;
  try {
    const e = JSON.parse(text).error;
    message = e?.message ?? message;
    param = e?.param ?? null;
    code = e?.code ?? null;
  } catch { /* not JSON */ }
  return new HttpError(res.status, message, { param, code });
}

/**
 * Sends one non-streamed request to `path` and returns the neuron's answer when it is a
 * success; a failure is recorded on `ctx` and thrown (as an HttpError for an error answer).
 */
export async function sendOnce(
  gw: Gateway,
  req: Request,
  ctx: RequestContext,
  entry: CatalogueEntry,
  path: string,
  payload: string,
): Promise<Response> {
  let res: Response;
  try {
    ({ res } = await sendRouted(
      gw,
      entry,
      path,
      payload,
      translatedHeaders(req.headers),
      ctx.signal,
      ctx,
    ));
  } catch (e) {
    ctx.fail(e);
    throw e;
  }
  if (!res.ok) {
    ctx.end(res.status);
    throw await upstreamError(res);
  }
  return res;
}

/** Sends a non-streamed chat request and returns the completion (usage recorded). */
export async function completeOnce(
  gw: Gateway,
  req: Request,
  ctx: RequestContext,
  entry: CatalogueEntry,
  payload: string,
): Promise<ChatCompletion> {
  const res = await sendOnce(gw, req, ctx, entry, CHAT, payload);
  const completion = await res.json() as ChatCompletion;
  const { usage, ttftMs } = usageHeader(res);
  ctx.end(200, usage, ttftMs);
  return completion;
}

/** How one dialect frames its stream. */
export interface StreamDialect {
  /** Opening events, sent at once. */
  open(): Uint8Array;
  /** Sent every `keepaliveMs` until the first token (Anthropic `ping`, an SSE comment). */
  keepalive(): Uint8Array;
  keepaliveMs: number;
  /** The dialect's terminal error event. */
  fail(err: HttpError): Uint8Array;
  /** The neuron's chat SSE bytes → the dialect's SSE bytes. */
  translate(upstream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array>;
  /** Whether the translated stream saw a complete answer. */
  complete(): boolean;
  /** Runs once when the stream ended normally (e.g. storing the response). */
  onEnd?(): void;
}

/**
 * Streams a translated request. A refusal known within a second (no room,
 * victims busy) is thrown so it keeps its status and Retry-After; a load
 * that takes longer commits to a 200 stream with keepalives.
 */
export async function streamTranslated(
  gw: Gateway,
  req: Request,
  ctx: RequestContext,
  entry: CatalogueEntry,
  payload: string,
  dialect: StreamDialect,
): Promise<Response> {
  ctx.streamed = true;
  const upstreamAbort = new AbortController();
  ctx.signal.addEventListener("abort", () => upstreamAbort.abort(ctx.signal.reason), {
    once: true,
  });
  const routed = sendRouted(
    gw,
    entry,
    CHAT,
    payload,
    translatedHeaders(req.headers),
    upstreamAbort.signal,
    ctx,
  );
  if (await settlesWithin(routed, COMMIT_STREAM_AFTER_MS)) {
    const { res } = await routed.catch((e) => {
      ctx.fail(e);
      throw e;
    });
    if (!res.ok || !res.body) {
      ctx.end(res.status);
      throw await upstreamError(res);
    }
  }
  const watch = new StreamWatch();
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  const stop = () => clearInterval(timer);
  const stream = new ReadableStream<Uint8Array>({
    async start(c) {
      c.enqueue(dialect.open());
      timer = setInterval(() => c.enqueue(dialect.keepalive()), dialect.keepaliveMs);
      const failWith = (err: HttpError) => {
        stop();
        c.enqueue(dialect.fail(err));
        ctx.end(err.status);
        c.close();
      };
      try {
        const { res } = await routed;
        if (!res.ok || !res.body) {
          return failWith(await upstreamError(res));
        }
        const upstream = guard(res.body, {
          idleMs: gw.options.streamIdleMs,
          signal: ctx.signal,
          watch: (x) => {
            if (!watch.firstTokenAt) stop();
            watch.see(x);
          },
        });
        reader = dialect.translate(upstream).getReader();
      } catch (e) {
        const err = e instanceof HttpError ? e : new HttpError(502, (e as Error).message);
        failWith(err);
      }
    },
    async pull(c) {
      if (!reader) return;
      const { value, done } = await reader.read();
      if (done) {
        stop();
        ctx.endStream(dialect.complete() ? "ok" : "upstream_failed", watch);
        dialect.onEnd?.();
        c.close();
        return;
      }
      c.enqueue(value);
    },
    cancel() {
      stop();
      upstreamAbort.abort();
      ctx.endStream("client_closed", watch);
      return reader?.cancel();
    },
  }, { highWaterMark: 0 });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}
