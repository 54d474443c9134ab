/**
 * Reading an upstream chat-completions SSE body for a translating dialect
 * (Anthropic, Responses): each SSE event becomes one typed item — a valid
 * chunk, the end (`[DONE]` or end of input), or a failure (transport error,
 * not JSON, an error envelope, a malformed chunk) — and the dialect's
 * translator turns items into its own events.
 */

import { formatPath } from "../errors.ts";
import { createSseParserStream } from "../sse.ts";
import { type ChatCompletionChunk, ChatCompletionChunkSchema } from "./chat.ts";
import { OpenAIErrorEnvelopeSchema } from "./errors.ts";

export type ChunkItem =
  | { kind: "chunk"; chunk: ChatCompletionChunk }
  /** `data: [DONE]`. */
  | { kind: "done" }
  /** The body ended without `[DONE]`. */
  | { kind: "eof" }
  | {
    kind: "failed";
    message: string;
    /** The error the upstream itself reported, when it sent an error envelope. */
    upstream?: { type?: string | null; code?: string | number | null };
  };

/** Whether an error an upstream reported means "busy, try later" rather than a failure. */
export function upstreamOverloaded(
  error: { type?: string | null; code?: string | number | null },
): boolean {
  const code = String(error.code ?? "");
  return error.type === "overloaded_error" || error.type === "rate_limit_error" ||
    /rate_limit|overloaded|unavailable/i.test(code) || ["429", "503", "529"].includes(code);
}

/**
 * Pipes `upstream` through `handle` (item → the dialect's events) into an SSE
 * body encoded by `encode`, until `ended()` says the dialect's stream is over.
 * Cancelling the result cancels the upstream.
 */
export function translateChatStream<E>(
  upstream: ReadableStream<Uint8Array>,
  handle: (item: ChunkItem) => E[],
  ended: () => boolean,
  encode: (events: readonly E[]) => Uint8Array,
): ReadableStream<Uint8Array> {
  const reader = upstream.pipeThrough(createSseParserStream()).getReader();
  const next = async (): Promise<ChunkItem> => {
    let item;
    try {
      item = await reader.read();
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      return { kind: "failed", message: `upstream stream failed: ${message}` };
    }
    if (item.done) return { kind: "eof" };
    if (item.value.type === "done") return { kind: "done" };
    let json: unknown;
    try {
      json = JSON.parse(item.value.data);
    } catch {
      return { kind: "failed", message: "upstream sent an event that is not JSON" };
    }
    if (json !== null && typeof json === "object" && "error" in json) {
      const env = OpenAIErrorEnvelopeSchema.safeParse(json);
      return env.success
        ? { kind: "failed", message: env.data.error.message, upstream: env.data.error }
        : { kind: "failed", message: "upstream reported an error" };
    }
    const chunk = ChatCompletionChunkSchema.safeParse(json);
    if (!chunk.success) {
      const where = formatPath(chunk.error.issues[0]?.path ?? [], "bracket");
      return {
        kind: "failed",
        message: `upstream sent a malformed chunk${where ? ` (at ${where})` : ""}`,
      };
    }
    return { kind: "chunk", chunk: chunk.data };
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // Read until there is something to send: many chunks (role-only, usage) yield no events.
      for (;;) {
        const events = handle(await next());
        if (events.length) controller.enqueue(encode(events));
        if (ended()) {
          controller.close();
          reader.cancel().catch(() => {});
          return;
        }
        if (events.length) return;
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
