/**
 * A neuron's answer as the gateway's client hands it on: the parsed head and
 * the body, whole or streaming. It reads like a `Response` (status, ok,
 * headers, body, text(), json()) but builds no Web object unless one is asked
 * for: on the proxy's hot path a `Response` and its `Headers` cost more than
 * the gateway's own bookkeeping, and the answer goes straight back out as a
 * `Reply`.
 */

import type { Reply } from "./reply.ts";
import type { Bytes } from "./wire.ts";

const dec = new TextDecoder();

export class Answer {
  #whole: Bytes | null;
  #stream: ReadableStream<Uint8Array> | null;
  #headers: Headers | undefined;
  #used = false;

  constructor(
    readonly status: number,
    readonly statusText: string,
    /** Lower-case names as received, framing fields left out. */
    readonly fields: [string, string][],
    body: Bytes | ReadableStream<Uint8Array> | null,
    /** The body's length when declared, else -1 (chunked, or to the connection's end). */
    readonly length: number,
  ) {
    this.#whole = body instanceof Uint8Array ? body : null;
    this.#stream = body instanceof ReadableStream ? body : null;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** One field (repeats joined with ", ", as `Headers.get` does), without building Headers. */
  header(name: string): string | null {
    let value: string | null = null;
    for (const [k, v] of this.fields) if (k === name) value = value === null ? v : `${value}, ${v}`;
    return value;
  }

  get headers(): Headers {
    return this.#headers ??= new Headers(this.fields);
  }

  /** The body as a stream (made on first use when it came whole). */
  get body(): ReadableStream<Uint8Array> | null {
    if (!this.#stream && this.#whole) {
      const whole = this.#whole;
      this.#whole = null;
      this.#stream = new ReadableStream({
        start(c) {
          c.enqueue(whole);
          c.close();
        },
      });
    }
    return this.#stream;
  }

  /**
   * The whole body, read in first if it is still streaming, without using it
   * up: `bytes()`, `body` and `reply()` still give it afterwards.
   */
  async settle(): Promise<Bytes> {
    if (this.#used) throw new TypeError("the answer's body was already read");
    if (!this.#whole) {
      this.#whole = this.#stream ? await new Response(this.#stream).bytes() : new Uint8Array(0);
      this.#stream = null;
    }
    return this.#whole;
  }

  async bytes(): Promise<Bytes> {
    if (this.#used) throw new TypeError("the answer's body was already read");
    this.#used = true;
    if (this.#whole) return this.#whole;
    // A body that streams in is read whole (rare: error answers, translated completions).
    return this.#stream ? await new Response(this.#stream).bytes() : new Uint8Array(0);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.bytes();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  }

  async text(): Promise<string> {
    return dec.decode(await this.bytes());
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  /**
   * The answer as the gateway's server writes it on, body as it came. `body`
   * replaces the answer's own (a watched copy of its stream); its length is
   * then unknown.
   */
  reply(body?: ReadableStream<Uint8Array>): Reply {
    const r: Reply = {
      status: this.status,
      statusText: this.statusText,
      headers: this.fields,
      body: body ?? null,
    };
    if (body) return r;
    if (this.#whole && !this.#used) r.body = this.#whole;
    else {
      r.body = this.body;
      if (this.length >= 0) r.length = this.length;
    }
    return r;
  }
}
