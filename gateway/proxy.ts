/**
 * Forwarding to neurons. Bodies and streams pass through chunk by chunk
 * without re-encoding; the gateway only peeks at bytes for its metrics
 * (first token, usage). A connection failure before the first byte retries
 * once on another eligible neuron; a client disconnect cancels upstream; a
 * neuron dying mid-stream ends the client's stream with an error event.
 */

import { HttpError } from "../core/errors.ts";
import type { CatalogueEntry } from "./catalogue.ts";
import type { Fleet, NeuronState } from "./fleet.ts";
import type { Answer } from "./http1/answer.ts";
import { ConnectFailedError } from "./http1/client.ts";
import type { HeaderReader } from "./http1/incoming.ts";
import type { Lifecycle } from "./lifecycle.ts";

/** Headers that describe one connection, not the request (RFC 9110 §7.6.1), plus our own auth. */
const DROP_REQUEST = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "authorization",
  "x-api-key",
  "accept-encoding",
  "cookie",
]);

/** Asks the neuron to report usage of streams as an SSE comment (see neuron/api/chat.ts). */
export const USAGE_COMMENT_HEADER = "x-cortex-usage";

export class UpstreamConnectError extends Error {
  override name = "UpstreamConnectError";
  constructor(readonly neuron: string, message: string) {
    super(message);
  }
}

/** A plain object, not `Headers`: this runs per request and the object is half the cost. */
export function upstreamHeaders(client: HeaderReader, neuron: NeuronState): Record<string, string> {
  const h: Record<string, string> = {};
  client.forEach((v, k) => {
    if (!DROP_REQUEST.has(k)) h[k] = v;
  });
  Object.assign(h, neuron.client.authHeaders());
  h["content-type"] = "application/json";
  h[USAGE_COMMENT_HEADER] = "1";
  return h;
}

/**
 * Usage and TTFT of a whole (non-streamed) answer, from the neuron's
 * `x-cortex-usage` header (`prompt=12;completion=5;ttft_ms=3.1`), so the
 * body passes through untouched.
 */
export function usageHeader(res: Answer): { usage: Usage | null; ttftMs?: number } {
  const v = res.header(USAGE_COMMENT_HEADER);
  if (!v) return { usage: null };
  const f: Record<string, number> = {};
  for (const part of v.split(";")) {
    const [k, n] = part.split("=");
    f[k.trim()] = Number(n);
  }
  const usage = Number.isFinite(f.prompt) && Number.isFinite(f.completion)
    ? { promptTokens: f.prompt, completionTokens: f.completion }
    : null;
  return { usage, ttftMs: Number.isFinite(f.ttft_ms) ? f.ttft_ms : undefined };
}

/**
 * Client headers for a translated request (Anthropic, Responses): thinking is
 * the dialect's own field there, so the OpenAI-side `x-include-thinking`
 * must not re-wrap reasoning into the text behind the translation's back.
 */
export function translatedHeaders(client: HeaderReader): HeaderReader {
  const hidden = (name: string) => name.toLowerCase() === "x-include-thinking";
  return {
    get: (name) => hidden(name) ? null : client.get(name),
    has: (name) => !hidden(name) && client.has(name),
    forEach: (fn) => client.forEach((v, k) => hidden(k) || fn(v, k)),
  };
}

/** One request to one neuron. Throws UpstreamConnectError when nothing came back. */
export async function send(
  neuron: NeuronState,
  path: string,
  body: string | Uint8Array<ArrayBuffer>,
  clientHeaders: HeaderReader,
  signal: AbortSignal,
): Promise<Answer> {
  try {
    return await neuron.client.upstream.request(
      "POST",
      path,
      upstreamHeaders(clientHeaders, neuron),
      body,
      signal,
    );
  } catch (e) {
    if (signal.aborted) throw e;
    if (e instanceof ConnectFailedError) {
      throw new UpstreamConnectError(neuron.client.name, e.message);
    }
    // An answer this client could not read (a malformed head, say) is the neuron's fault.
    throw new HttpError(
      502,
      `neuron ${neuron.client.name} sent an unreadable answer: ${(e as Error).message}`,
      {
        code: "upstream_failed",
      },
    );
  }
}

/**
 * Routes and sends, retrying once on another neuron when the first cannot
 * be reached. Returns the response and the neuron that gave it.
 */
export async function sendRouted(
  deps: { fleet: Fleet; lifecycle: Lifecycle },
  entry: CatalogueEntry,
  path: string,
  body: string | Uint8Array<ArrayBuffer>,
  clientHeaders: HeaderReader,
  signal: AbortSignal,
  onRouted?: (neuron: NeuronState, cold: boolean) => void,
): Promise<{ res: Answer; neuron: NeuronState; cold: boolean }> {
  const tried = new Set<string>();
  for (let attempt = 0; attempt < 2; attempt++) {
    const { neuron, cold } = await deps.lifecycle.acquire(entry, tried, undefined, signal);
    onRouted?.(neuron, cold);
    try {
      const res = await send(neuron, path, body, clientHeaders, signal);
      if (res.status === 404 && attempt === 0 && await modelGone(res)) {
        // Unloaded behind the gateway's back (directly on the neuron) since the last poll:
        // refresh that view and route again, which cold-loads it if need be.
        await deps.fleet.refresh(neuron.client.name);
        continue;
      }
      return { res, neuron, cold };
    } catch (e) {
      if (!(e instanceof UpstreamConnectError)) throw e;
      tried.add(neuron.client.name);
      deps.fleet.markDown(neuron.client.name, e.message);
      if (attempt === 1) {
        throw new HttpError(
          502,
          `neurons ${[...tried].join(", ")} could not be reached: ${e.message}`,
          {
            code: "upstream_unreachable",
          },
        );
      }
    }
  }
  throw new HttpError(502, "unreachable");
}

/** A 404 saying the model is not there (its body stays readable for the client either way). */
async function modelGone(res: Answer): Promise<boolean> {
  try {
    const body = await res.settle();
    return JSON.parse(new TextDecoder().decode(body))?.error?.code === "model_not_found";
  } catch {
    return false;
  }
}

/**
 * How long a streamed request for a cold model may wait for its placement
 * before the gateway commits to a 200 with keepalives: a refusal known by
 * then (no room, the victims busy) still gets its own status and Retry-After.
 */
export const COMMIT_STREAM_AFTER_MS = 1000;

/** Whether `p` settles (either way) within `ms`. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  try {
    return await Promise.race([p.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// Peeking at bytes without decoding every chunk

/**
 * Where `needle` first occurs in `hay` at or after `from`, or -1. Candidates
 * are found by the needle's byte at `anchor`: pick a byte that is rare in the
 * haystack (a quote is in every JSON key, an underscore in few).
 */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from = 0, anchor = 0): number {
  const key = needle[anchor];
  const last = hay.length - needle.length;
  outer: for (
    let a = hay.indexOf(key, from + anchor);
    a !== -1 && a - anchor <= last;
    a = hay.indexOf(key, a + 1)
  ) {
    const i = a - anchor;
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const enc = new TextEncoder();
const FIRST_TOKEN = [
  enc.encode(`"delta":{"content":"`),
  enc.encode(`"delta":{"reasoning_content":"`),
  enc.encode(`"delta":{"tool_calls":`),
  enc.encode(`"text":"`),
];
const USAGE = enc.encode(`"prompt_tokens":`);
/** The underscore: checked in every chunk, so candidates are found by a rare byte. */
const USAGE_ANCHOR = 7;

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export function parseUsage(text: string): Usage | null {
  const p = /"prompt_tokens":(\d+)/.exec(text);
  const c = /"completion_tokens":(\d+)/.exec(text);
  return p && c ? { promptTokens: Number(p[1]), completionTokens: Number(c[1]) } : null;
}

/** Watches an OpenAI stream go by: when the first token passed, and the usage at the end. */
export class StreamWatch {
  firstTokenAt = 0;
  usage: Usage | null = null;

  see(chunk: Uint8Array): void {
    if (!this.firstTokenAt) {
      for (const n of FIRST_TOKEN) {
        const i = indexOfBytes(chunk, n);
        // `"content":""` (the role chunk) is no token yet.
        if (i >= 0 && chunk[i + n.length] !== 0x22) {
          this.firstTokenAt = performance.now();
          break;
        }
      }
    }
    if (indexOfBytes(chunk, USAGE, 0, USAGE_ANCHOR) >= 0) {
      this.usage = parseUsage(new TextDecoder().decode(chunk)) ?? this.usage;
    }
  }
}

/** How a proxied stream ended; "timeout": `[gateway] request_timeout` cut it. */
export type StreamOutcome = "ok" | "upstream_failed" | "client_closed" | "timeout";

/**
 * Passes an upstream body through in one stream hop (each hop costs a JS
 * read and write per chunk), calling `watch` on each chunk. A neuron that
 * fails mid-stream, or goes silent past `idleMs` (a hung or partitioned
 * host; neurons send keepalives every 2 s), ends the stream: with
 * `errorFrame` the client gets that frame and a clean end, without it the
 * stream errors (for translators, which frame the failure themselves).
 * `onEnd` runs once with the outcome.
 */
export function guard(
  upstream: ReadableStream<Uint8Array>,
  opts: {
    idleMs: number;
    watch?: (chunk: Uint8Array) => void;
    errorFrame?: (message: string, code?: string) => Uint8Array;
    onEnd?: (outcome: StreamOutcome) => void;
  },
): ReadableStream<Uint8Array> {
  const reader = upstream.getReader();
  let last = performance.now();
  let idle = false;
  let ended = false;
  const dog = setInterval(() => {
    if (performance.now() - last > opts.idleMs) {
      idle = true;
      reader.cancel().catch(() => {});
    }
  }, Math.min(opts.idleMs, 5000));
  const end = (o: StreamOutcome) => {
    clearInterval(dog);
    if (ended) return;
    ended = true;
    opts.onEnd?.(o);
  };
  const fail = (c: ReadableStreamDefaultController<Uint8Array>, message: string) => {
    end("upstream_failed");
    if (!opts.errorFrame) return c.error(new Error(message));
    c.enqueue(opts.errorFrame(`the neuron failed mid-stream: ${message}`));
    c.close();
  };
  /** The request's own deadline passed (an HttpError 504 is the upstream abort's reason). */
  const timedOut = (c: ReadableStreamDefaultController<Uint8Array>, e: HttpError) => {
    end("timeout");
    if (!opts.errorFrame) return c.error(e);
    c.enqueue(opts.errorFrame(e.message, "timeout"));
    c.close();
  };
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      let item: ReadableStreamReadResult<Uint8Array>;
      try {
        item = await reader.read();
      } catch (e) {
        if (e instanceof HttpError && e.status === 504) return timedOut(c, e);
        return fail(c, (e as Error).message);
      }
      last = performance.now();
      if (item.done) {
        if (idle) return fail(c, `no data for ${opts.idleMs / 1000} s`);
        end("ok");
        return c.close();
      }
      opts.watch?.(item.value);
      c.enqueue(item.value);
    },
    cancel(reason) {
      end("client_closed");
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** The OpenAI-dialect error frame for a stream that broke. */
export function openaiErrorFrame(message: string, code = "upstream_failed"): Uint8Array {
  return enc.encode(
    `data: ${
      JSON.stringify({ error: { message, type: "server_error", param: null, code } })
    }\n\ndata: [DONE]\n\n`,
  );
}
