/**
 * Reading one request's body from its connection, once: Content-Length
 * bodies straight into their buffer, chunked ones through the strict
 * decoder, `100 Continue` sent when the body is first wanted, and deadlines
 * for a body that stalls or takes too long in all.
 */

import { HttpError } from "../../core/errors.ts";
import type { RequestHead } from "./request_head.ts";
import { type Bytes, ChunkedDecoder } from "./wire.ts";

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");
/** A body left unread up to this size is read and dropped to keep the connection. */
export const DRAIN_MAX = 64 * 1024;
/** A request body must arrive within this many body timeouts in all (and never stall for one). */
const BODY_TIMEOUTS_IN_ALL = 5;

/** What a body reader needs of its connection (server.ts). */
export interface BodyConnection {
  readonly conn: Deno.Conn;
  readonly bodyTimeoutMs: number;
  /** Bytes received and not yet consumed. */
  readonly buffered: Bytes;
  /** Whether a read into the connection's buffer is in progress. */
  readonly readPending: boolean;
  consume(n: number): void;
  /** Reads more into the buffer (or joins the read in progress); false at the end of input. */
  fill(): Promise<boolean>;
  /** Waiting for body bytes: until the next one is due, but never past `hard`. */
  bodyDeadline(hard: number): void;
  clearDeadline(): void;
  /** The input ended (seen by a direct read). */
  markEnded(): void;
  send(bytes: Uint8Array): Promise<void>;
  /** Starts watching for the client leaving, once the body is in. */
  watch(): void;
}

/** Reads one request's body from its connection, once. */
export class BodyReader {
  state: "unread" | "read" | "failed" = "unread";
  #continued = false;

  constructor(readonly c: BodyConnection, readonly head: RequestHead) {}

  async read(maxBytes: number): Promise<Bytes> {
    if (this.state !== "unread") throw new Error("the request body was already read");
    const { head } = this;
    if (head.length > maxBytes) {
      throw new HttpError(
        413,
        `request body of ${head.length} bytes exceeds the ${maxBytes}-byte limit`,
        { code: "request_too_large" },
      );
    }
    this.state = "failed";
    const out = head.chunked ? await this.#chunked(maxBytes) : await this.#sized(head.length);
    this.state = "read";
    this.c.watch();
    return out;
  }

  /** Reads and drops a small unread body; whether the connection stays usable. */
  async drain(): Promise<boolean> {
    if (this.head.expectContinue) return false; // never sent a go-ahead: the client may not send it
    try {
      await this.read(DRAIN_MAX);
      return true;
    } catch {
      return false;
    }
  }

  async #sized(length: number): Promise<Bytes> {
    const out = new Uint8Array(length);
    if (!length) return out;
    await this.#goAhead();
    const c = this.c;
    const hard = Date.now() + BODY_TIMEOUTS_IN_ALL * c.bodyTimeoutMs;
    let got = 0;
    try {
      while (got < length) {
        const buffered = c.buffered;
        if (buffered.length) {
          const take = Math.min(buffered.length, length - got);
          out.set(buffered.subarray(0, take), got);
          c.consume(take);
          got += take;
          continue;
        }
        c.bodyDeadline(hard);
        if (c.readPending) {
          if (!await c.fill()) throw this.#short();
          continue;
        }
        // Nothing buffered and no read going: read straight into the body.
        let n: number | null;
        try {
          n = await c.conn.read(out.subarray(got));
        } catch {
          n = null;
        }
        if (n === null) {
          c.markEnded();
          throw this.#short();
        }
        got += n;
      }
      return out;
    } finally {
      c.clearDeadline();
    }
  }

  async #chunked(maxBytes: number): Promise<Bytes> {
    await this.#goAhead();
    const c = this.c;
    const hard = Date.now() + BODY_TIMEOUTS_IN_ALL * c.bodyTimeoutMs;
    const decoder = new ChunkedDecoder(true);
    // One growing buffer, not a list of pieces: a body of one-byte chunks would otherwise
    // cost an object per byte.
    let body = new Uint8Array(Math.min(maxBytes, 16 * 1024));
    let size = 0;
    try {
      for (;;) {
        const out: Uint8Array[] = [];
        let used: number;
        try {
          used = decoder.decode(c.buffered, out);
        } catch (e) {
          throw new HttpError(400, (e as Error).message, { code: "invalid_request" });
        }
        c.consume(used);
        for (const p of out) {
          if (size + p.length > maxBytes) {
            throw new HttpError(413, `request body exceeds the ${maxBytes}-byte limit`, {
              code: "request_too_large",
            });
          }
          if (size + p.length > body.length) {
            const bigger = new Uint8Array(
              Math.min(maxBytes, Math.max(body.length * 2, size + p.length)),
            );
            bigger.set(body.subarray(0, size));
            body = bigger;
          }
          body.set(p, size);
          size += p.length;
        }
        if (decoder.ended) break;
        c.bodyDeadline(hard);
        if (!await c.fill()) throw this.#short();
      }
    } finally {
      c.clearDeadline();
    }
    return body.slice(0, size);
  }

  /** `Expect: 100-continue`: the client sends the body once told to. */
  async #goAhead(): Promise<void> {
    if (!this.head.expectContinue || this.#continued || this.c.buffered.length) return;
    this.#continued = true;
    await this.c.send(CONTINUE);
  }

  #short(): HttpError {
    return new HttpError(400, "the client stopped sending before the request body was complete", {
      code: "invalid_request",
    });
  }
}
