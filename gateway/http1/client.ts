/**
 * A keep-alive HTTP/1.1 client for the gateway's proxy hot path: one pool of
 * connections per neuron, requests written in one write, answers parsed
 * here and handed on as an `Answer` (answer.ts).
 *
 * Why not `fetch`: on the build machine (`deno task bench gateway`'s canned
 * backend, 64 clients) a bare proxy spends about 260 µs of CPU per whole
 * answer through `fetch` and about 140 µs through this client, and the
 * gateway's throughput target is out of reach with `fetch`. The neuron's
 * lifecycle and node API (rare calls) still use `fetch`.
 *
 * Framing follows RFC 9112 §6: no body for HEAD, 1xx, 204 and 304;
 * `Transfer-Encoding: chunked` (decoded, trailers dropped); `Content-Length`;
 * else the body runs to the connection's end. A connection goes back to the
 * pool only after its answer was read to the end and neither side asked to
 * close it.
 */

import { Answer } from "./answer.ts";
import {
  type Bytes,
  ChunkedDecoder,
  concat,
  errorText,
  headEnd,
  isConnectionLoss,
  safeClose,
  writeAll,
} from "./wire.ts";

/** The neuron could not be reached, or closed the connection before answering. */
export class ConnectFailedError extends Error {
  override name = "ConnectFailedError";
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const READ_SIZE = 16 * 1024;
/** A head larger than this is refused (a neuron's heads are a few hundred bytes). */
const MAX_HEAD = 64 * 1024;
/** Bodies up to this size go out in the same write as the head. */
const COALESCE_MAX = 64 * 1024;
const NO_BODY_STATUS = new Set([204, 304]);

/**
 * Answer fields this client consumes instead of passing on: they describe
 * the connection and its framing, which a proxy must not forward (RFC 9110
 * §7.6.1); `date` is set again by whoever serves the answer on.
 */
export const CONSUMED_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "content-length",
  "trailer",
  "upgrade",
  "date",
]);

export interface PoolOptions {
  /** Idle connections kept for reuse; more are closed. */
  maxIdle?: number;
  /** Longest wait for a TCP (and TLS) connection before ConnectFailedError (ms). */
  connectTimeoutMs?: number;
  /**
   * Extra trusted CA certificates (PEM) for https endpoints; without them the
   * system's roots and `DENO_CERT` apply, as for `fetch`.
   */
  caCerts?: string[];
}

/** A connection and the buffer its answers' heads are read into (reused, never handed out). */
interface Link {
  conn: Deno.Conn;
  buf: Uint8Array<ArrayBuffer>;
}

export class Http1Pool {
  readonly #hostname: string;
  readonly #port: number;
  readonly #tls: boolean;
  readonly #host: string;
  readonly #base: string;
  readonly #maxIdle: number;
  readonly #connectTimeoutMs: number;
  readonly #caCerts: string[] | undefined;
  readonly #idle: Link[] = [];
  readonly #busy = new Set<Link>();
  #closed = false;

  constructor(endpoint: string, opts: PoolOptions = {}) {
    const url = new URL(endpoint);
    this.#tls = url.protocol === "https:";
    this.#hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    this.#port = url.port ? Number(url.port) : this.#tls ? 443 : 80;
    this.#host = url.host;
    this.#base = url.pathname.replace(/\/+$/, "");
    this.#maxIdle = opts.maxIdle ?? 64;
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.#caCerts = opts.caCerts;
  }

  /** Connections open now: [idle, busy]. */
  get sizes(): [number, number] {
    return [this.#idle.length, this.#busy.size];
  }

  /**
   * Sends one request. Resolves once the answer's head arrived; its body
   * streams (or is already whole). A reused connection the neuron closed
   * meanwhile is replaced transparently; failing to connect, or a fresh
   * connection closing before any answer, throws ConnectFailedError.
   * Aborting `signal` closes the connection, also mid-body.
   */
  async request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | Bytes | null,
    signal?: AbortSignal,
  ): Promise<Answer> {
    signal?.throwIfAborted();
    const payload = typeof body === "string" ? enc.encode(body) : body;
    let head = `${method} ${this.#base}${path} HTTP/1.1\r\nhost: ${this.#host}\r\n`;
    for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
    if (payload) head += `content-length: ${payload.length}\r\n`;
    head += "\r\n";
    // Built once for every attempt: one write when the body is small, else head then body.
    const parts = !payload || payload.length > COALESCE_MAX
      ? [enc.encode(head), ...(payload ? [payload] : [])]
      : [withBody(head, payload)];

    for (let attempt = 0;; attempt++) {
      // A retry never takes another idle connection: if one was stale, so may all be.
      const reused = attempt === 0 && this.#idle.length > 0;
      const link = (reused ? this.#idle.pop() : undefined) ?? await this.#connect(signal);
      this.#busy.add(link);
      const onAbort = () => this.#discard(link);
      signal?.addEventListener("abort", onAbort, { once: true });
      const unlisten = () => signal?.removeEventListener("abort", onAbort);
      try {
        // Read while writing: a neuron may answer (413, say) and close before taking the
        // whole body; that answer is the one to pass on, not the failed write.
        const reading = readHead(link, method === "HEAD");
        const wrote = writeParts(link.conn, parts).then(() => null, (e) => e as Error);
        const parsed = await reading.catch(async (e) => {
          throw (await wrote) ?? e;
        });
        const writeError = await wrote;
        if (parsed === null) {
          // Closed before a byte of the answer: a reused connection the neuron had
          // dropped while idle gets one fresh try.
          this.#discard(link);
          unlisten();
          signal?.throwIfAborted();
          if (reused) continue;
          throw new ConnectFailedError(`${this.#host} closed the connection before answering`);
        }
        if (writeError) parsed.keepAlive = false;
        return this.#respond(link, parsed, signal, unlisten);
      } catch (e) {
        this.#discard(link);
        unlisten();
        signal?.throwIfAborted();
        if (e instanceof ConnectFailedError) throw e;
        if (reused && isConnectionLoss(e)) continue;
        if (isConnectionLoss(e)) throw new ConnectFailedError(`${this.#host}: ${errorText(e)}`);
        throw e;
      }
    }
  }

  /** Closes every connection; requests in flight fail. */
  close(): void {
    this.#closed = true;
    for (const c of [...this.#idle, ...this.#busy]) safeClose(c.conn);
    this.#idle.length = 0;
    this.#busy.clear();
  }

  /** A new connection, given up on after the connect timeout or when `signal` aborts. */
  async #connect(signal?: AbortSignal): Promise<Link> {
    if (this.#closed) throw new ConnectFailedError(`the pool for ${this.#host} is closed`);
    const opts = { hostname: this.#hostname, port: this.#port };
    // The TLS handshake (certificate check included) belongs to connecting, not to the request.
    const connecting: Promise<Deno.Conn> = this.#tls
      ? Deno.connectTls({ ...opts, caCerts: this.#caCerts }).then(async (c) => {
        try {
          await c.handshake();
          return c;
        } catch (e) {
          safeClose(c);
          throw e;
        }
      })
      : Deno.connect(opts);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const givenUp = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ConnectFailedError(
              `${this.#host}: no connection within ${this.#connectTimeoutMs} ms`,
            ),
          ),
        this.#connectTimeoutMs,
      );
      onAbort = () => reject(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const conn = await Promise.race([connecting, givenUp]);
      if (!this.#tls) (conn as Deno.TcpConn).setNoDelay(true);
      return { conn, buf: new Uint8Array(READ_SIZE) };
    } catch (e) {
      // A connection that completes after we gave up is closed at once.
      connecting.then(safeClose, () => {});
      if (e instanceof ConnectFailedError || signal?.aborted) throw e;
      throw new ConnectFailedError(`${this.#host}: ${errorText(e)}`);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }

  #release(link: Link): void {
    if (!this.#busy.delete(link)) return;
    if (this.#closed || this.#idle.length >= this.#maxIdle) safeClose(link.conn);
    else this.#idle.push(link);
  }

  #discard(link: Link): void {
    this.#busy.delete(link);
    const i = this.#idle.indexOf(link);
    if (i >= 0) this.#idle.splice(i, 1);
    safeClose(link.conn);
  }

  #respond(link: Link, h: Head, signal: AbortSignal | undefined, unlisten: () => void): Answer {
    const finish = (reusable: boolean) => {
      unlisten();
      if (reusable && h.keepAlive) this.#release(link);
      else this.#discard(link);
    };
    const answer = (body: Bytes | ReadableStream<Uint8Array> | null, length = -1) =>
      new Answer(h.status, h.statusText, h.headers, body, length);
    if (h.noBody) {
      finish(h.rest.length === 0);
      return answer(null);
    }
    if (h.chunked) return answer(chunkedBody(link, h.rest, finish, signal));
    if (h.length >= 0 && h.rest.length >= h.length) {
      // The whole body came with the head: no stream needed.
      finish(h.rest.length === h.length);
      return answer(h.rest.slice(0, h.length), h.length);
    }
    return answer(sizedBody(link.conn, h.rest, h.length, finish, signal), h.length);
  }
}

interface Head {
  status: number;
  statusText: string;
  headers: [string, string][];
  chunked: boolean;
  /** Content-Length, or -1: the body runs to the connection's end. */
  length: number;
  noBody: boolean;
  keepAlive: boolean;
  /** Bytes read past the head (a view of the connection's buffer: copy before keeping). */
  rest: Bytes;
}

async function writeParts(conn: Deno.Conn, parts: Bytes[]): Promise<void> {
  for (const p of parts) await writeAll(conn, p);
}

/** `head` encoded with `body` after it, in one buffer (one allocation, one write). */
function withBody(head: string, body: Uint8Array): Bytes {
  const out = new Uint8Array(head.length * 3 + body.length);
  const { written } = enc.encodeInto(head, out);
  out.set(body, written);
  return out.subarray(0, written + body.length);
}

/** Reads and parses the answer's head (skipping 1xx heads); null if the connection closed first. */
async function readHead({ conn, buf: own }: Link, isHead: boolean): Promise<Head | null> {
  let buf = own;
  let n = 0;
  for (;;) {
    let end = headEnd(buf, 0, n);
    while (end < 0) {
      if (n === buf.length) {
        if (n >= MAX_HEAD) throw new Error(`the answer's head exceeds ${MAX_HEAD} bytes`);
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const r = await conn.read(buf.subarray(n));
      if (r === null) {
        if (n === 0) return null;
        throw new Error("the connection closed inside the answer's head");
      }
      end = headEnd(buf, Math.max(0, n - 3), n + r);
      n += r;
    }
    const head = parseHead(dec.decode(buf.subarray(0, end)), isHead);
    if (head.status >= 100 && head.status < 200 && head.status !== 101) {
      // An interim answer (100 Continue, 103 Early Hints): the real one follows.
      buf.copyWithin(0, end, n);
      n -= end;
      continue;
    }
    return { ...head, rest: buf.subarray(end, n) };
  }
}

/** Parses a status line and header fields. Throws on a malformed head. */
export function parseHead(text: string, isHead = false): Omit<Head, "rest"> {
  let eol = text.indexOf("\r\n");
  if (eol < 0) eol = text.length;
  const m = STATUS_LINE.exec(text.slice(0, eol));
  if (!m) throw new Error(`malformed status line: ${JSON.stringify(text.slice(0, 80))}`);
  const status = Number(m[2]);
  const headers: [string, string][] = [];
  let length = -1;
  let chunked = false;
  let close = m[1] === "0";
  for (let at = eol + 2; at < text.length; at = eol + 2) {
    eol = text.indexOf("\r\n", at);
    if (eol < 0) eol = text.length;
    if (eol === at) continue;
    const c = text.indexOf(":", at);
    if (c <= at || c > eol) {
      throw new Error(`malformed header line: ${JSON.stringify(text.slice(at, at + 80))}`);
    }
    const name = text.slice(at, c).trim().toLowerCase();
    const value = text.slice(c + 1, eol).trim();
    if (!CONSUMED_HEADERS.has(name)) {
      headers.push([name, value]);
      continue;
    }
    if (name === "content-length") {
      if (!/^\d+$/.test(value) || (length >= 0 && Number(value) !== length)) {
        throw new Error(`bad content-length: ${JSON.stringify(value)}`);
      }
      length = Number(value);
    } else if (name === "transfer-encoding") {
      chunked = value.toLowerCase().split(",").map((s) => s.trim()).at(-1) === "chunked";
    } else if (name === "connection") {
      const tokens = value.toLowerCase().split(",").map((s) => s.trim());
      if (tokens.includes("close")) close = true;
      if (tokens.includes("keep-alive")) close = close && m[1] !== "0";
    }
  }
  const noBody = isHead || NO_BODY_STATUS.has(status) || (status >= 100 && status < 200);
  // Chunked wins over a Content-Length (RFC 9112 §6.3); a body to the end is never reusable.
  if (chunked) length = -1;
  const keepAlive = !close && (noBody || chunked || length >= 0);
  return { status, statusText: m[3] ?? "", headers, chunked, length, noBody, keepAlive };
}

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;

/** A Content-Length body (or one running to the connection's end when `length` is -1). */
function sizedBody(
  conn: Deno.Conn,
  first: Bytes,
  length: number,
  finish: (reusable: boolean) => void,
  signal?: AbortSignal,
): ReadableStream<Uint8Array> {
  let left = length < 0 ? Infinity : length - first.length;
  let pending: Bytes | null = first.length ? first.slice() : null;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (pending) {
        c.enqueue(pending);
        pending = null;
        if (left === 0) {
          finish(true);
          c.close();
        }
        return;
      }
      const buf = new Uint8Array(Math.min(READ_SIZE, left));
      let r: number | null;
      try {
        r = await conn.read(buf);
      } catch (e) {
        finish(false);
        return c.error(signal?.aborted ? signal.reason : e);
      }
      if (r === null) {
        finish(false);
        if (length < 0) return c.close();
        return c.error(new Error(`the neuron closed the connection ${left} bytes short`));
      }
      left -= r;
      c.enqueue(buf.subarray(0, r));
      if (left === 0) {
        finish(true);
        c.close();
      }
    },
    cancel() {
      finish(false);
    },
  }, { highWaterMark: 0 });
}

/**
 * A chunked body, decoded as bytes arrive: each piece of chunk data is
 * passed on at once (an SSE event is one chunk; none waits for the next).
 * Reads go into the connection's own buffer; what is passed on or kept
 * across reads is copied out of it.
 */
function chunkedBody(
  { conn, buf: scratch }: Link,
  first: Bytes,
  finish: (reusable: boolean) => void,
  signal?: AbortSignal,
): ReadableStream<Uint8Array> {
  let buf: Uint8Array = first;
  const decoder = new ChunkedDecoder();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      for (;;) {
        const out: Uint8Array[] = [];
        try {
          buf = buf.subarray(decoder.decode(buf, out));
        } catch (e) {
          finish(false);
          return c.error(e);
        }
        for (const piece of out) c.enqueue(piece.slice());
        if (decoder.ended) {
          finish(buf.length === 0);
          return c.close();
        }
        if (out.length) return;
        // Whatever is left undecoded (part of a size line) must outlive the next read.
        const kept = buf.length ? buf.slice() : null;
        let r: number | null;
        try {
          r = await conn.read(scratch);
        } catch (e) {
          finish(false);
          return c.error(signal?.aborted ? signal.reason : e);
        }
        if (r === null) {
          finish(false);
          return c.error(new Error("the neuron closed the connection inside a chunked body"));
        }
        buf = kept ? concat(kept, scratch.subarray(0, r)) : scratch.subarray(0, r);
      }
    },
    cancel() {
      if (!decoder.ended) finish(false);
    },
  }, { highWaterMark: 0 });
}
