/**
 * OpenAI endpoints proxied to neurons: chat completions, completions,
 * embeddings. The request body is forwarded as received unless the model's
 * profile fills defaults or an alias has to be resolved.
 */

import { HttpError } from "../../core/errors.ts";
import { encodeSseComment } from "../../core/sse.ts";
import type { CatalogueEntry } from "../catalogue.ts";
import type { NeuronState } from "../fleet.ts";
import type { Endpoint } from "../metrics.ts";
import { COMMIT_STREAM_AFTER_MS, relay, sendRouted, settlesWithin, usageHeader } from "../proxy.ts";
import { guard, openaiErrorFrame, type StreamOutcome } from "../stream_guard.ts";
import { StreamWatch } from "../stream_watch.ts";
import { conversationKey } from "../affinity.ts";
import type { Deadline } from "../deadlines.ts";
import { applyProfile, type Gateway, parseJsonBody, readBody, resolveModel } from "./common.ts";

export async function proxyOpenAI(
  gw: Gateway,
  req: Request,
  endpoint: Endpoint,
  path: string,
  t0 = performance.now(),
): Promise<Response> {
  const bytes = await readBody(req, gw.options.maxBodyBytes);
  const body = parseJsonBody(bytes);
  const entry = resolveModel(gw, body.model, "openai");
  const changed = applyProfile(body, entry, endpoint);
  const payload = changed ? JSON.stringify(body) : bytes;
  const stream = body.stream === true;
  const ctx = new RequestContext(gw, entry, endpoint, t0, req);
  ctx.streamed = stream;
  if (endpoint === "chat") ctx.conversation = () => conversationKey(req.headers, body);

  let routed: Promise<Routed> | undefined;
  if (stream && gw.lifecycle.isCold(entry)) {
    const upstreamAbort = new AbortController();
    ctx.signal.addEventListener("abort", () => upstreamAbort.abort(ctx.signal.reason), {
      once: true,
    });
    routed = sendRouted(gw, entry, path, payload, req.headers, upstreamAbort.signal, ctx);
    // A refusal known at once (no room, the victims busy) keeps its status and Retry-After;
    // only a load that takes a while commits to a 200 stream with keepalives.
    if (!await settlesWithin(routed, COMMIT_STREAM_AFTER_MS)) {
      return coldStream(gw, ctx, routed, upstreamAbort);
    }
  }

  let res: Response;
  try {
    ({ res } = await (routed ??
      sendRouted(gw, entry, path, payload, req.headers, ctx.signal, ctx)));
  } catch (e) {
    ctx.fail(e);
    throw e;
  }
  if (!stream || !res.ok || !res.body) {
    // A whole answer is generated before its headers arrive and carries its usage in a
    // header. It is read in full before it is passed on: a neuron failing halfway is then a
    // clean 502, not a cut body, and a client slow to take a large one does not keep the
    // neuron's connection.
    let whole: Uint8Array<ArrayBuffer>;
    try {
      whole = await res.bytes();
    } catch (e) {
      const err = ctx.signal.aborted ? e : new HttpError(
        502,
        `neuron ${ctx.node?.client.name} failed mid-answer: ${(e as Error).message}`,
        { code: "upstream_failed" },
      );
      ctx.fail(err);
      throw err;
    }
    const { usage, ttftMs } = usageHeader(res);
    ctx.end(res.status, usage, ttftMs);
    return relay(res, whole);
  }
  const watch = new StreamWatch();
  const out = guard(res.body, {
    idleMs: gw.options.streamIdleMs,
    signal: ctx.signal,
    watch: (c) => watch.see(c),
    errorFrame: openaiErrorFrame,
    onEnd: (outcome) => ctx.endStream(outcome, watch),
  });
  return relay(res, out);
}

type Routed = Awaited<ReturnType<typeof sendRouted>>;

/**
 * A stream for a model that is still loading: the SSE response starts at
 * once with keepalive comments, so clients and proxies do not time out
 * during the load; failures before the first token become an error event.
 */
function coldStream(
  gw: Gateway,
  ctx: RequestContext,
  routed: Promise<Routed>,
  upstreamAbort: AbortController,
): Response {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const watch = new StreamWatch();
  let keepalive: ReturnType<typeof setInterval> | undefined;
  // A request waiting in the swap queue sees its place there.
  const note = () => {
    const q = gw.lifecycle.queue.positionOf(upstreamAbort.signal);
    return encodeSseComment(q ? `queued for ${q.model}, position ${q.position}` : "loading model");
  };
  const body = new ReadableStream<Uint8Array>({
    async start(c) {
      keepalive = setInterval(() => c.enqueue(note()), 2000);
      c.enqueue(note());
      try {
        const { res } = await routed;
        clearInterval(keepalive);
        if (!res.ok || !res.body) {
          const text = await res.text();
          let msg = text;
          try {
            msg = JSON.parse(text).error?.message ?? text;
          } catch { /* not JSON */ }
          c.enqueue(openaiErrorFrame(msg));
          ctx.end(res.status);
          c.close();
          return;
        }
        reader = guard(res.body, {
          idleMs: gw.options.streamIdleMs,
          signal: ctx.signal,
          watch: (x) => watch.see(x),
          errorFrame: openaiErrorFrame,
          onEnd: (outcome) => ctx.endStream(outcome, watch),
        }).getReader();
      } catch (e) {
        clearInterval(keepalive);
        const err = e instanceof HttpError ? e : new HttpError(502, (e as Error).message);
        c.enqueue(openaiErrorFrame(err.message));
        ctx.end(err.status);
        c.close();
      }
    },
    async pull(c) {
      if (!reader) return;
      const { value, done } = await reader.read();
      if (done) return c.close();
      c.enqueue(value);
    },
    cancel() {
      clearInterval(keepalive);
      upstreamAbort.abort();
      ctx.endStream("client_closed", watch);
      return reader?.cancel();
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}

/** Requests whose outcome a RequestContext reports; the app reports the others (refusals). */
export const observedRequests = new WeakSet<Request>();

/** One request's bookkeeping: in-flight counts, metrics, speed. */
export class RequestContext {
  node: NeuronState | null = null;
  #release: (() => void) | null = null;
  #releaseGauge: () => void;
  #ended = false;
  #firstByteAt = 0;
  #deadline: Deadline | null;
  /**
   * Aborts when the client leaves, `[gateway] request_timeout` passes (a 504
   * reason) or a shutdown's grace period ends (a 503 reason).
   */
  readonly signal: AbortSignal;

  constructor(
    readonly gw: Gateway,
    readonly entry: CatalogueEntry,
    readonly endpoint: Endpoint,
    readonly t0: number,
    req: Request,
  ) {
    this.#releaseGauge = gw.metrics.trackInFlight(entry.id);
    observedRequests.add(req);
    this.#deadline = gw.deadlines?.start() ?? null;
    this.signal = AbortSignal.any(
      this.#deadline
        ? [req.signal, this.#deadline.signal, gw.closing.signal]
        : [req.signal, gw.closing.signal],
    );
  }

  /**
   * How to name the conversation this request continues (gateway/affinity.ts): hashing an
   * agent's head costs a pass over its tools and system prompt, so routing asks only when
   * more than one neuron could serve it.
   */
  conversation: (() => string | null) | null = null;
  #key: string | null | undefined;

  key = (): string | null => {
    if (this.#key === undefined) this.#key = this.conversation?.() ?? null;
    return this.#key;
  };

  /** Whether the answer is a stream (sent over HTTP/2 to the neuron). */
  streamed = false;

  /** The request's room on its neuron connection, given back when it ends. */
  #connection: (() => void) | null = null;

  hold = (release: () => void): void => {
    this.#connection?.();
    this.#connection = release;
  };

  /** Called once the request has a neuron. */
  routed = (neuron: NeuronState): void => {
    this.#release?.();
    this.node = neuron;
    this.#release = this.gw.usage.begin(neuron.client.name, this.entry.id);
    this.#firstByteAt = performance.now();
  };

  end(
    status: number,
    usage?: { promptTokens: number; completionTokens: number } | null,
    upstreamTtftMs?: number,
    firstTokenAt?: number,
    errorKind?: "upstream_error" | "client_closed" | "timeout",
  ): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#deadline?.release();
    this.#connection?.();
    this.#release?.();
    this.#releaseGauge();
    const now = performance.now();
    // Non-streamed: the neuron's own TTFT plus what the gateway added before sending.
    const ttftMs = firstTokenAt
      ? firstTokenAt - this.t0
      : upstreamTtftMs !== undefined && this.#firstByteAt
      ? this.#firstByteAt - this.t0 + upstreamTtftMs
      : undefined;
    const genS = ttftMs !== undefined ? (now - this.t0 - ttftMs) / 1000 : undefined;
    this.gw.metrics.observeRequest({
      model: this.entry.id,
      node: this.node?.client.name ?? null,
      endpoint: this.endpoint,
      status,
      durationS: (now - this.t0) / 1000,
      ttftS: ttftMs !== undefined ? ttftMs / 1000 : undefined,
      promptTokens: usage?.promptTokens,
      completionTokens: usage?.completionTokens,
      generationS: genS,
      errorKind,
    });
    if (usage && genS && genS > 0 && usage.completionTokens > 1) {
      this.gw.usage.recordSpeed(this.entry.id, usage.completionTokens / genS);
    }
  }

  /** Records a request that failed before its answer started. */
  fail(e: unknown): void {
    if (e instanceof HttpError) this.end(e.status);
    else if (e instanceof DOMException && e.name === "AbortError") {
      this.end(499, null, undefined, undefined, "client_closed");
    } else this.end(502);
  }

  endStream(outcome: StreamOutcome, watch: StreamWatch): void {
    // A client may hang up as soon as it has the answer (the openai SDK cancels the body at
    // `[DONE]`), before the neuron's end of stream reaches the gateway: that answer was served.
    if (outcome === "client_closed" && watch.done) outcome = "ok";
    const status = outcome === "client_closed" ? 499 : 200;
    this.end(
      status,
      watch.usage,
      undefined,
      watch.firstTokenAt || undefined,
      outcome === "upstream_failed"
        ? "upstream_error"
        : outcome === "client_closed" || outcome === "timeout"
        ? outcome
        : undefined,
    );
  }
}
