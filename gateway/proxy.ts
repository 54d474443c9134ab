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
import type { Lifecycle } from "./lifecycle.ts";
import type { Usage } from "./stream_watch.ts";
import { connectFailed } from "./neuron_client.ts";
import { errorChain } from "../core/error_chain.ts";

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

/** The address each request's headers came from (a served request's headers are immutable). */
export const clientPeer = new WeakMap<Headers, string>();

/**
 * The headers a neuron gets: the client's, less those that describe the
 * client's connection (the fixed hop-by-hop set and any its `Connection`
 * field names, RFC 9110 §7.6.1) and its credentials, plus the neuron's token
 * and `X-Forwarded-For`.
 */
export function upstreamHeaders(client: Headers, neuron: NeuronState): Headers {
  const h = new Headers();
  const named = client.get("connection")?.toLowerCase().split(",").map((t) => t.trim());
  client.forEach((v, k) => {
    if (!DROP_REQUEST.has(k) && !named?.includes(k)) h.set(k, v);
  });
  const peer = clientPeer.get(client);
  if (peer) {
    // The client's own value (which it may have forged) with the peer appended, as proxies
    // do: the last entry is always one the gateway vouches for.
    const prior = client.get("x-forwarded-for");
    h.set("x-forwarded-for", prior ? `${prior}, ${peer}` : peer);
  }
  for (const [k, v] of Object.entries(neuron.client.authHeaders())) h.set(k, v);
  h.set("content-type", "application/json");
  h.set(USAGE_COMMENT_HEADER, "1");
  return h;
}

/**
 * Usage and TTFT of a whole (non-streamed) answer, from the neuron's
 * `x-cortex-usage` header (`prompt=12;completion=5;ttft_ms=3.1`), so the
 * body passes through untouched.
 */
export function usageHeader(res: Response): { usage: Usage | null; ttftMs?: number } {
  const v = res.headers.get(USAGE_COMMENT_HEADER);
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

/** Fields of a neuron's answer that describe that connection, or are the gateway's own. */
const DROP_RESPONSE = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "content-length",
  "date",
  "trailer",
  "upgrade",
  USAGE_COMMENT_HEADER,
]);

/** A neuron's answer (status and end-to-end fields) for the client, with `body`. */
export function relay(res: Response, body: BodyInit | null): Response {
  const headers = new Headers();
  res.headers.forEach((v, k) => {
    if (!DROP_RESPONSE.has(k)) headers.set(k, v);
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers });
}

/**
 * Client headers for a translated request (Anthropic, Responses): thinking is
 * the dialect's own field there, so the OpenAI-side `x-include-thinking`
 * must not re-wrap reasoning into the text behind the translation's back.
 */
export function translatedHeaders(client: Headers): Headers {
  const h = new Headers(client);
  h.delete("x-include-thinking");
  const peer = clientPeer.get(client);
  if (peer) clientPeer.set(h, peer);
  return h;
}

/**
 * One request to one neuron. Throws UpstreamConnectError when nothing came back. A
 * `streamed` one goes over HTTP/2, and `hold` gets the release of its room on its connection
 * (see `NeuronClient.fetch`).
 */
export async function send(
  neuron: NeuronState,
  path: string,
  body: string | Uint8Array<ArrayBuffer>,
  clientHeaders: Headers,
  signal: AbortSignal,
  hold?: (release: () => void) => void,
  streamed = false,
): Promise<Response> {
  try {
    return await neuron.client.fetch(
      path,
      {
        method: "POST",
        headers: upstreamHeaders(clientHeaders, neuron),
        body,
        signal,
      },
      hold,
      streamed,
    );
  } catch (e) {
    if (signal.aborted) throw e;
    const why = errorChain(e);
    if (connectFailed(e)) throw new UpstreamConnectError(neuron.client.name, why);
    throw new HttpError(502, `neuron ${neuron.client.name} failed to answer: ${why}`, {
      code: "upstream_failed",
    });
  }
}

/** What routing needs of the request it serves: its conversation, and who to tell. */
export interface RoutedRequest {
  /** The conversation (gateway/affinity.ts): its next turn goes where its cache is. */
  key?: () => string | null;
  routed(neuron: NeuronState, cold: boolean): void;
  /** Keeps the request's room on its neuron connection until it ends, then calls `release`. */
  hold?(release: () => void): void;
  /** The answer is a stream (over HTTP/2 to the neuron); otherwise a whole answer. */
  readonly streamed?: boolean;
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
  clientHeaders: Headers,
  signal: AbortSignal,
  request?: RoutedRequest,
): Promise<{ res: Response; neuron: NeuronState; cold: boolean }> {
  const tried = new Set<string>();
  for (let attempt = 0; attempt < 2; attempt++) {
    const { neuron, cold } = await deps.lifecycle.acquire(
      entry,
      tried,
      undefined,
      signal,
      request?.key,
    );
    request?.routed(neuron, cold);
    try {
      let res = await send(
        neuron,
        path,
        body,
        clientHeaders,
        signal,
        request?.hold,
        request?.streamed,
      );
      if (res.status === 404 && attempt === 0) {
        const text = await res.text();
        if (modelGone(text)) {
          // Unloaded behind the gateway's back (directly on the neuron) since the last poll:
          // refresh that view and route again, which cold-loads it if need be.
          await deps.fleet.refresh(neuron.client.name);
          continue;
        }
        res = new Response(text, res); // read to check it: passed on whole
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

/** A 404 body saying the model is not there. */
function modelGone(body: string): boolean {
  try {
    return JSON.parse(body)?.error?.code === "model_not_found";
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
