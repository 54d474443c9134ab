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

const LoadAnswer = zod.object({ model: NeuronModelSchema });

export class NeuronClient {
  readonly target: NeuronTarget;
  /** This neuron's own connection pool, for every call to it. */
  readonly http: Deno.HttpClient;
  readonly #auth: Record<string, string>;

  constructor(target: NeuronTarget) {
    this.target = target;
    this.http = Deno.createHttpClient({
      // Neurons speak HTTP/1.1 on a private network; a long stream holds its connection.
      http2: false,
      poolIdleTimeout: NEURON_POOL_IDLE_MS,
      ...(target.caCerts ? { caCerts: target.caCerts } : {}),
    });
    this.#auth = target.token ? { authorization: `Bearer ${target.token}` } : {};
  }

  /** Closes the pool (idle connections; requests in flight finish). */
  close(): void {
    this.http.close();
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
      res = await fetch(this.url("/models/load"), {
        method: "POST",
        signal,
        headers: { ...this.#auth, "content-type": "application/json" },
        body: JSON.stringify({ ...req, stream: true }),
        client: this.http,
      });
    } catch (e) {
      throw new NeuronCallError(this.name, 0, `${this.name} unreachable: ${(e as Error).message}`);
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
    return fetch(this.url(path), {
      method: "POST",
      signal,
      headers: { ...this.#auth, "content-type": "application/json" },
      body: JSON.stringify(body),
      client: this.http,
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
      res = await fetch(this.url(path), {
        method,
        signal,
        headers: body === undefined
          ? this.#auth
          : { ...this.#auth, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        client: this.http,
      });
    } catch (e) {
      throw new NeuronCallError(this.name, 0, `${this.name} unreachable: ${(e as Error).message}`);
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
