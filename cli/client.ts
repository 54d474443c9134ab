/**
 * HTTP client for the gateway's operator API (and a neuron's, which speaks
 * the same error envelope): JSON calls checked against zod schemas, and
 * SSE calls read event by event. Every failure becomes a CliError naming
 * the URL and what the server said.
 */

import type { z } from "zod";
import { errorChain } from "../core/error_chain.ts";
import { createSseParserStream } from "../core/sse.ts";
import { CliError, EXIT } from "./cli_error.ts";
import type { GlobalOptions } from "./options.ts";
import { normalizeBaseUrl } from "./options.ts";

/** One server-sent event with its JSON data parsed. */
export interface ServerEvent {
  event: string;
  data: unknown;
}

export interface ClientOptions extends GlobalOptions {
  /** Longest wait for a plain (non-streamed) answer, in ms. */
  timeoutMs?: number;
}

/** The message inside an OpenAI/Anthropic error envelope or an SSE error event. */
export function errorMessageOf(body: unknown): string | null {
  if (body === null || typeof body !== "object") return null;
  const err = (body as { error?: unknown }).error;
  if (typeof err === "string") return err;
  if (err && typeof err === "object") {
    const msg = (err as { message?: unknown }).message;
    if (typeof msg === "string") return msg;
  }
  const msg = (body as { message?: unknown }).message;
  return typeof msg === "string" ? msg : null;
}

export class Client {
  readonly baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #timeoutMs: number;

  constructor(opts: ClientOptions) {
    this.baseUrl = normalizeBaseUrl(opts.url);
    this.#apiKey = opts.apiKey || undefined;
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
  }

  headers(json = false): Record<string, string> {
    return {
      accept: "application/json, text/event-stream",
      ...(json ? { "content-type": "application/json" } : {}),
      ...(this.#apiKey ? { authorization: `Bearer ${this.#apiKey}` } : {}),
    };
  }

  /** GET a JSON answer and check it against `schema`; returns the checked and the raw body. */
  async getJson<S extends z.ZodType>(
    path: string,
    schema: S,
  ): Promise<{ value: z.output<S>; raw: unknown }> {
    const res = await this.#fetch(path, {
      headers: this.headers(),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    return this.#readJson(path, res, schema);
  }

  /** POST a JSON body, expect a JSON answer checked against `schema`. */
  async postJson<S extends z.ZodType>(
    path: string,
    body: unknown,
    schema: S,
  ): Promise<{ value: z.output<S>; raw: unknown }> {
    const res = await this.#fetch(path, {
      method: "POST",
      headers: this.headers(true),
      body: JSON.stringify(body),
    });
    return this.#readJson(path, res, schema);
  }

  /**
   * POST a JSON body and yield the answer's server-sent events. A non-SSE
   * answer (the server refused before streaming) throws its error.
   */
  async *postEvents(
    path: string,
    body: unknown,
    opts: { signal?: AbortSignal; onHeaders?: (headers: Headers) => void } = {},
  ): AsyncGenerator<ServerEvent> {
    const res = await this.#fetch(path, {
      method: "POST",
      headers: this.headers(true),
      body: JSON.stringify(body),
      signal: opts.signal,
    });
    if (!res.ok) throw await this.#httpError(path, res);
    opts.onHeaders?.(res.headers);
    const type = res.headers.get("content-type") ?? "";
    if (!type.startsWith("text/event-stream") || !res.body) {
      await res.body?.cancel();
      throw new CliError(
        `${this.baseUrl}${path} answered ${type || "no body"}, not an event stream`,
      );
    }
    const events = res.body.pipeThrough(createSseParserStream());
    try {
      for await (const m of events) {
        if (m.type !== "event") continue;
        let data: unknown;
        try {
          data = JSON.parse(m.data);
        } catch {
          throw new CliError(`${this.baseUrl}${path} sent an event that is not JSON: ${m.data}`);
        }
        yield { event: m.event ?? "message", data };
      }
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError(`the stream from ${this.baseUrl}${path} broke: ${errorChain(e)}`);
    }
  }

  async #fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, init);
    } catch (e) {
      const why = e instanceof DOMException && e.name === "TimeoutError"
        ? `no answer within ${this.#timeoutMs / 1000} s`
        : errorChain(e);
      throw new CliError(`cannot reach ${this.baseUrl}: ${why}`, EXIT.failed);
    }
  }

  async #readJson<S extends z.ZodType>(
    path: string,
    res: Response,
    schema: S,
  ): Promise<{ value: z.output<S>; raw: unknown }> {
    if (!res.ok) throw await this.#httpError(path, res);
    let raw: unknown;
    try {
      raw = await res.json();
    } catch (e) {
      throw new CliError(
        `${this.baseUrl}${path} answered with invalid JSON: ${(e as Error).message}`,
      );
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CliError(
        `${this.baseUrl}${path} answered in an unexpected shape (${
          issue.path.join(".") || "body"
        }: ${issue.message}); is --url a cortex gateway?`,
      );
    }
    return { value: parsed.data, raw };
  }

  async #httpError(path: string, res: Response): Promise<CliError> {
    const text = await res.text().catch(() => "");
    let message: string | null = null;
    try {
      message = errorMessageOf(JSON.parse(text));
    } catch {
      message = text.trim().slice(0, 300) || null;
    }
    const hint = res.status === 401 ? " (set --api-key or CORTEX_API_KEY)" : "";
    return new CliError(
      `${message ?? res.statusText}${hint} (HTTP ${res.status} from ${this.baseUrl}${path})`,
    );
  }
}
