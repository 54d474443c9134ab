/** Small HTTP helpers for the neuron's handlers. */

import { type ContextField, contextLengthMessage, HttpError } from "../../core/errors.ts";
import { bodyText, parseJsonText, readBodyLimited } from "../../core/http_body.ts";
import { EngineError } from "../engine/types.ts";

export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** Reads a JSON body, refusing oversized or malformed ones with a 4xx naming the problem. */
export async function readJson(req: Request, maxBytes: number): Promise<unknown> {
  return parseJsonText(bodyText(await readBodyLimited(req, maxBytes)));
}

/**
 * Maps engine failures to HTTP statuses (a 5xx only for node failures, never client input).
 * `field`: what a too-long refusal blames (`messages` of a chat, a completion's `prompt`,
 * an embedding's `input`).
 */
export function engineHttpError(
  e: EngineError,
  model?: string,
  field: ContextField = "messages",
  /** Said after a context-length refusal's standard text: the trained length, how to raise. */
  contextHint?: string,
): HttpError {
  switch (e.code) {
    case "not_loaded":
      return new HttpError(404, e.message, { code: "model_not_found", param: "model" });
    case "queue_full":
      return new HttpError(503, e.message, { code: "overloaded" });
    case "context_exceeded":
      // OpenAI's wording: agents match "maximum context length is N tokens" to compact.
      return new HttpError(
        400,
        (e.limit ? contextLengthMessage(e.limit.max, e.limit.tokens, field) : e.message) +
          (contextHint ? ` ${contextHint}` : ""),
        { code: "context_length_exceeded", param: field },
      );
    case "grammar":
      return new HttpError(400, `grammar rejected: ${e.message}`, {
        code: "invalid_grammar",
        param: "grammar",
      });
    case "bad_request":
      return new HttpError(400, e.message, { code: "invalid_request" });
    case "worker_failed":
    case "decode_failed":
      return new HttpError(500, `${model ? model + ": " : ""}${e.message}`, { code: e.code });
  }
}

export function isTruthyHeader(v: string | null): boolean {
  return v !== null && /^(1|true|yes|on)$/i.test(v.trim());
}
