/**
 * Typed calls from the gateway to one neuron's lifecycle and node API.
 * Answers are validated with the schemas the neuron builds them from.
 */

import type { z } from "zod";
import {
  type Health,
  HealthSchema,
  type LoadRequest,
  type ModelShow,
  ModelShowSchema,
  ModelsListSchema,
  type NeuronModel,
  NeuronModelSchema,
  TokenizeResponseSchema,
} from "../core/neuron/schemas.ts";
import { z as zod } from "zod";
import { createSseParserStream } from "../core/sse.ts";
import { createLogger } from "../core/log.ts";
import { errorChain } from "../core/error_chain.ts";

export class NeuronCallError extends Error {
  override name = "NeuronCallError";
  constructor(
    readonly neuron: string,
    /** HTTP status from the neuron; 0 when it could not be reached. */
    readonly status: number,
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

export interface NeuronTarget {
  name: string;
  endpoint: string;
  token?: string;
  /** PEM CA certificates to trust for an https endpoint. */
  caCerts?: string[];
}

/**
 * How long an idle connection to a neuron is kept. Every one is kept that long, however many:
 * new streams then find the connections of those that just ended (a burst of 256 with all its
 * connections open measured TTFT p50 59 ms, against 82-92 when 192 had to connect, as with the
 * earlier cap of 64 idle). Short, because an idle connection holds ~120 KiB of buffers: the
 * pool closes it within twice this, and the gateway then gives the memory back
 * (`startMemoryReclaim`'s second collection).
 */
export const NEURON_POOL_IDLE_MS = 3_000;

/**
 * Streams one HTTP/2 connection to a neuron carries at once. A neuron (`Deno.serve`, hyper)
 * allows 200 per connection and a client past that queues the rest behind them (256 streams on
 * one connection measured TTFT 10 s). 32 measured better than 100 (256 streams, 3 interleaved
 * rounds: 20.0 against 25.0 µs of gateway CPU per event, arrivals' TTFT p99 10.9 against 13.8
 * ms: each neuron step lands on a connection as one burst of frames) and than 8 (at 1,024
 * streams, longer gaps). DESIGN.md, "HTTP/2 to neurons".
 */
export const STREAMS_PER_CONNECTION = 32;

/**
 * HTTP/2 connections to one neuron: streams past their 256 go over the HTTP/1.1 pool. With
 * every stream on HTTP/2, 1,024 streams (more than the gateway's one loop relays in time) had
 * their longest gap at 171-318 ms; with 8 connections and the rest on HTTP/1.1, 110-125, for
 * the same CPU per event (3 interleaved rounds). DESIGN.md, "HTTP/2 to neurons".
 */
export const HTTP2_CONNECTIONS = 8;

/** Whether fetch failed before the request reached the neuron (connect, DNS, TLS). */
export function connectFailed(e: unknown): boolean {
  const cause = (e as { cause?: unknown })?.cause;
  return e instanceof TypeError && /\((Connect)\)|Connection refused/.test(String(cause ?? e));
}

/** One HTTP/2 connection to a neuron and the streams on it (its own `Deno.HttpClient`). */
interface Lane {
  readonly http: Deno.HttpClient;
  open: number;
}

const log = createLogger("gateway.neuron");

const LoadAnswer = zod.object({ model: NeuronModelSchema });

export class NeuronClient {
  readonly target: NeuronTarget;
  readonly #auth: Record<string, string>;
  /**
   * Streams go over HTTP/2 until the neuron shows it does not speak it (a proxy in front of it
   * that speaks only HTTP/1.1), then over the HTTP/1.1 pool. Over HTTP/2 they share a few
   * connections (`STREAMS_PER_CONNECTION` each, filled in order, at most `HTTP2_CONNECTIONS`)
   * instead of one each: fewer reads and wakeups per relayed token (DESIGN.md, "HTTP/2 to
   * neurons").
   */
  #http2 = true;
  /** An HTTP/2 answer came back: a later failure is the neuron's, not the protocol's. */
  #http2Proven = false;
  #lanes: Lane[] = [];
  /**
   * Whole answers, lifecycle calls and streams past the HTTP/2 connections' room: HTTP/1.1, each
   * on a connection of its own. Over HTTP/2 a whole answer cost 172 µs of gateway CPU against 100
   * (64 clients, canned backend): short requests pay its stream setup and gain nothing from
   * sharing a read.
   */
  #whole: Deno.HttpClient | null = null;

  constructor(target: NeuronTarget) {
    this.target = target;
    this.#auth = target.token ? { authorization: `Bearer ${target.token}` } : {};
  }

  /** Closes the pools (idle connections; requests in flight finish). */
  close(): void {
    for (const l of this.#lanes) l.http.close();
    this.#lanes = [];
    this.#whole?.close();
    this.#whole = null;
  }

  /** Streams in flight on this neuron's HTTP/2 connections, by connection (for tests). */
  get lanes(): { http2: boolean; open: number[] } {
    return { http2: this.#http2, open: this.#lanes.map((l) => l.open) };
  }

  /**
   * A pool for HTTP/2 streams or HTTP/1.1. Over TLS the HTTP/2 one offers both by ALPN and
   * takes what the neuron's front picks: one that speaks only HTTP/1.1 would otherwise end the
   * handshake (`NoApplicationProtocol`), and the neuron look down to every stream. In the clear,
   * HTTP/2 goes by prior knowledge (h2c), the fallback in `fetch` covering fronts without it.
   */
  #client(http2: boolean): Deno.HttpClient {
    return Deno.createHttpClient({
      http1: !http2 || this.target.endpoint.startsWith("https:"),
      http2,
      poolIdleTimeout: NEURON_POOL_IDLE_MS,
      ...(this.target.caCerts ? { caCerts: this.target.caCerts } : {}),
    });
  }

  /** The first HTTP/2 connection with room for one more stream, or null when all are full. */
  #lane(): Lane | null {
    let lane = this.#lanes.find((l) => l.open < STREAMS_PER_CONNECTION);
    if (!lane && this.#lanes.length < HTTP2_CONNECTIONS) {
      this.#lanes.push(lane = { http: this.#client(true), open: 0 });
    }
    return lane ?? null;
  }

  /**
   * `fetch` to this neuron. A `streamed` answer goes over HTTP/2, on a connection with room:
   * `hold` receives the release of that room once the answer's headers are in (call it when
   * the request ends); without it the room is released then. A neuron that fails its first
   * HTTP/2 request otherwise than by refusing the connection is asked again over HTTP/1.1,
   * for good. Anything else, and streams finding every HTTP/2 connection full, go over
   * HTTP/1.1.
   */
  async fetch(
    path: string,
    init: RequestInit & { body?: string | Uint8Array<ArrayBuffer> },
    hold?: (release: () => void) => void,
    streamed = false,
  ): Promise<Response> {
    const lane = streamed && this.#http2 ? this.#lane() : null;
    if (!lane) {
      this.#whole ??= this.#client(false);
      return await fetch(this.url(path), { ...init, client: this.#whole });
    }
    lane.open++;
    let released = false;
    const release = () => {
      if (!released) lane.open--;
      released = true;
    };
    let res: Response;
    try {
      res = await fetch(this.url(path), { ...init, client: lane.http });
    } catch (e) {
      release();
      if (this.#http2Proven || init.signal?.aborted || connectFailed(e)) throw e;
      log.warn("neuron does not speak HTTP/2: using HTTP/1.1", {
        neuron: this.name,
        error: errorChain(e),
      });
      for (const l of this.#lanes) l.http.close();
      this.#lanes = [];
      this.#http2 = false;
      return this.fetch(path, init, hold, streamed);
    }
    this.#http2Proven = true;
    if (hold) hold(release);
    else release();
    return res;
  }

  get name(): string {
    return this.target.name;
  }

  /** Headers for a proxied request: the neuron's token replaces the client's credentials. */
  authHeaders(): Record<string, string> {
    return this.#auth;
  }

  url(path: string): string {
    return `${this.target.endpoint}${path}`;
  }

  health(signal?: AbortSignal): Promise<Health> {
    return this.#call("GET", "/health", undefined, HealthSchema, signal);
  }

  async models(signal?: AbortSignal): Promise<NeuronModel[]> {
    return (await this.#call("GET", "/models", undefined, ModelsListSchema, signal)).models;
  }

  async load(req: LoadRequest, signal?: AbortSignal): Promise<NeuronModel> {
    return (await this.#call("POST", "/models/load", req, LoadAnswer, signal)).model;
  }

  /** Loads with `stream: true`, reporting the neuron's progress events as they come. */
  async loadWithProgress(
    req: LoadRequest,
    onProgress: (fraction: number) => void,
    signal?: AbortSignal,
  ): Promise<NeuronModel> {
    let res: Response;
    try {
      res = await this.fetch("/models/load", {
        method: "POST",
        signal,
        headers: { ...this.#auth, "content-type": "application/json" },
        body: JSON.stringify({ ...req, stream: true }),
      });
    } catch (e) {
      throw new NeuronCallError(this.name, 0, `${this.name} unreachable: ${errorChain(e)}`);
    }
    if (!res.ok || !res.body) {
      const err = await res.json().catch(() => ({})) as {
        error?: { message?: string; code?: string };
      };
      throw new NeuronCallError(
        this.name,
        res.status,
        err.error?.message ?? `HTTP ${res.status}`,
        err.error?.code ?? null,
      );
    }
    for await (const m of res.body.pipeThrough(createSseParserStream())) {
      if (m.type !== "event") continue;
      const data = JSON.parse(m.data);
      if (m.event === "progress") onProgress(data.progress);
      else if (m.event === "done") return NeuronModelSchema.parse(data.model);
      else if (m.event === "error") {
        throw new NeuronCallError(
          this.name,
          data.status ?? 500,
          data.error?.message ?? "load failed",
          data.error?.code ?? null,
        );
      }
    }
    throw new NeuronCallError(this.name, 502, `${this.name}: load stream ended without a result`);
  }

  /** Raw POST for streams relayed as they are (pulls). */
  post(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    return this.fetch(path, {
      method: "POST",
      signal,
      headers: { ...this.#auth, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  async unload(model: string, signal?: AbortSignal): Promise<void> {
    await this.#call("POST", "/models/unload", { model }, zod.unknown(), signal);
  }

  /** One model with its chat template's text (an older neuron without the route: a 404). */
  show(model: string, signal?: AbortSignal): Promise<ModelShow> {
    return this.#call("POST", "/models/show", { model }, ModelShowSchema, signal);
  }

  async tokenize(body: Record<string, unknown>, signal?: AbortSignal): Promise<number> {
    return (await this.#call("POST", "/tokenize", body, TokenizeResponseSchema, signal)).count;
  }

  async #call<S extends z.ZodType>(
    method: string,
    path: string,
    body: unknown,
    schema: S,
    signal?: AbortSignal,
  ): Promise<z.infer<S>> {
    let res: Response;
    try {
      res = await this.fetch(path, {
        method,
        signal,
        headers: body === undefined
          ? this.#auth
          : { ...this.#auth, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new NeuronCallError(this.name, 0, `${this.name} unreachable: ${errorChain(e)}`);
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch {
      throw new NeuronCallError(this.name, res.status, `${this.name} ${path}: answer is not JSON`);
    }
    if (!res.ok) {
      const err = (json as { error?: { message?: string; code?: string } }).error;
      throw new NeuronCallError(
        this.name,
        res.status,
        err?.message ?? `${this.name} ${path}: HTTP ${res.status}`,
        err?.code ?? null,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new NeuronCallError(
        this.name,
        502,
        `${this.name} ${path}: unexpected answer (${parsed.error.issues[0]?.message})`,
      );
    }
    return parsed.data;
  }
}
