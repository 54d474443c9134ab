/**
 * Server-sent events: encoding frames for our own streams and parsing upstream ones.
 *
 * Encoding is on the hot path (one frame per generated token per stream), so each frame is
 * one string concatenation and one `TextEncoder.encode`; JSON from `JSON.stringify` never
 * holds a raw line break, so it needs no line splitting.
 */
import { createParser } from "eventsource-parser";

const encoder = new TextEncoder();

/** The OpenAI end-of-stream sentinel, `data: [DONE]`. */
export const SSE_DONE_DATA = "[DONE]";

/** One SSE frame carrying `data` serialized as JSON, with an optional `event:` name. */
export function formatSseJson(data: unknown, event?: string): string {
  const json = JSON.stringify(data);
  return event === undefined ? `data: ${json}\n\n` : `event: ${event}\ndata: ${json}\n\n`;
}

/** `formatSseJson` as bytes. */
export function encodeSseJson(data: unknown, event?: string): Uint8Array {
  return encoder.encode(formatSseJson(data, event));
}

/** Typed events as SSE frames named by their `type` (`event: <type>` + `data: <json>`), one buffer. */
export function encodeSseEvents(events: readonly { type: string }[]): Uint8Array {
  let text = "";
  for (const ev of events) text += formatSseJson(ev, ev.type);
  return encoder.encode(text);
}

/** One SSE frame carrying raw text; a multi-line text becomes several `data:` lines. */
export function formatSseData(data: string, event?: string): string {
  const head = event === undefined ? "" : `event: ${event}\n`;
  if (!/[\r\n]/.test(data)) return `${head}data: ${data}\n\n`;
  return `${head}${data.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`).join("")}\n`;
}

/** `formatSseData` as bytes. */
export function encodeSseData(data: string, event?: string): Uint8Array {
  return encoder.encode(formatSseData(data, event));
}

/** A comment frame (`: keepalive`), ignored by every SSE client; keeps idle connections open. */
export function formatSseComment(text = "keepalive"): string {
  return `: ${text.replace(/[\r\n]+/g, " ")}\n\n`;
}

/** `formatSseComment` as bytes. */
export function encodeSseComment(text = "keepalive"): Uint8Array {
  return encoder.encode(formatSseComment(text));
}

/** The frame `data: [DONE]` that ends an OpenAI stream. */
export function encodeSseDone(): Uint8Array {
  return encoder.encode(`data: ${SSE_DONE_DATA}\n\n`);
}

/** A parsed upstream event, or the `[DONE]` sentinel that ends an OpenAI stream. */
export type SseMessage =
  | { type: "event"; event: string | undefined; id: string | undefined; data: string }
  | { type: "done" };

export interface SseParserOptions {
  /** Called for each comment frame (e.g. keepalives). */
  onComment?: (comment: string) => void;
  /** Upper bound on buffered, unterminated input in characters (guards against a runaway peer). */
  maxBufferSize?: number;
}

/**
 * A TransformStream from the bytes of an SSE body to parsed events. `data: [DONE]` becomes
 * `{type: "done"}` and everything after it is ignored. An unterminated event at the end of
 * the input is discarded, as the SSE specification says: a cut connection yields no
 * half-event.
 */
export function createSseParserStream(
  options: SseParserOptions = {},
): TransformStream<Uint8Array | string, SseMessage> {
  const decoder = new TextDecoder();
  let done = false;
  let parser: ReturnType<typeof createParser>;
  return new TransformStream<Uint8Array | string, SseMessage>({
    start(controller) {
      parser = createParser({
        onEvent(ev) {
          if (done) return;
          if (ev.data === SSE_DONE_DATA && (ev.event === undefined || ev.event === "message")) {
            done = true;
            controller.enqueue({ type: "done" });
            return;
          }
          controller.enqueue({ type: "event", event: ev.event, id: ev.id, data: ev.data });
        },
        onComment: options.onComment,
        onError(err) {
          // Only an exceeded buffer limit is fatal; malformed lines are skipped per the spec.
          if (err.type === "max-buffer-size-exceeded") controller.error(err);
        },
        maxBufferSize: options.maxBufferSize,
      });
    },
    transform(chunk) {
      if (done) return;
      parser.feed(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
    },
    flush() {
      if (!done) parser.feed(decoder.decode());
    },
  });
}
