/**
 * The gateway's HTTP/1.1 server, on `Deno.listen`.
 *
 * Why not `Deno.serve`: measured on the gateway's benchmark (canned backend,
 * 64 clients, 2 cores), `Deno.serve` alone costs a proxy about 38 µs of CPU
 * per request against 18 µs here, and its `Request`, `Headers` and
 * `Response` objects cost the proxy more again; with it the gateway could
 * not reach half of nginx's throughput. The neuron and the metrics listener
 * still use `Deno.serve`.
 *
 * What it does (RFC 9112): keep-alive and pipelining (answers in order, one
 * request at a time per connection), Content-Length and chunked request
 * bodies, `Expect: 100-continue`, HTTP/1.0 clients, HEAD, chunked or sized
 * answers, a client's disconnect seen while its answer is pending (its
 * signal aborts, its answer stream is cancelled), limits on head size and
 * field count, timeouts for idle connections, slow heads and stalled bodies,
 * and graceful shutdown. Heads are parsed in request_head.ts, bodies read in
 * body.ts. What it does not do: TLS, HTTP/2, upgrades, compression (a
 * reverse proxy in front does those).
 */

import { createLogger } from "../../core/log.ts";
import { type BodyConnection, BodyReader, DRAIN_MAX } from "./body.ts";
import { Fields, IncomingRequest } from "./incoming.ts";
import {
  chunk,
  encodeHead,
  type Framing,
  fromResponse,
  LAST_CHUNK,
  type Reply,
  statusHasNoBody,
} from "./reply.ts";
import { parseRequestHead, type RequestHead, RequestHeadError } from "./request_head.ts";
import { type Bytes, concat, headEnd, isConnectionLoss, safeClose } from "./wire.ts";

const log = createLogger("gateway.http1");
const enc = new TextEncoder();

export type Handler = (req: IncomingRequest) => Promise<Reply | Response> | Reply | Response;

export interface ServerOptions {
  hostname: string;
  port: number;
  /** Largest request head (request line and fields), else 431. */
  maxHeadBytes?: number;
  /** Most header fields in a request, else 431. */
  maxFields?: number;
  /** A connection waiting for its next request this long is closed. */
  idleTimeoutMs?: number;
  /** A request head must be complete this long after its first byte. */
  headTimeoutMs?: number;
  /** A request body that makes no progress this long is given up on. */
  bodyTimeoutMs?: number;
  /** A client that takes none of an answer's bytes for this long is dropped. */
  writeTimeoutMs?: number;
  /** How often deadlines are checked (ms). */
  sweepMs?: number;
  /** Renders the server's own refusals (a malformed head, say) in the caller's format. */
  refusal?: (status: number, message: string) => Reply;
}

export interface Http1Server {
  readonly addr: Deno.NetAddr;
  /** Stops accepting; idle connections close now, busy ones after their current answer. */
  shutdown(): Promise<void>;
  /** Closes every connection now (answers in progress are cut). */
  close(): void;
}

interface Settings {
  maxHeadBytes: number;
  maxFields: number;
  idleTimeoutMs: number;
  headTimeoutMs: number;
  bodyTimeoutMs: number;
  writeTimeoutMs: number;
  refusal: (status: number, message: string) => Reply;
}

/** Shared state of a server's connections. */
interface ServerState extends Settings {
  handler: Handler;
  draining: boolean;
}

const plainRefusal = (status: number, message: string): Reply => ({
  status,
  headers: [["content-type", "text/plain; charset=utf-8"]],
  body: enc.encode(`${message}\n`),
});

/** Request bytes buffered ahead of the answer in progress (pipelining) before reading pauses. */
const READ_AHEAD = 64 * 1024;
/** After a refusal, what the client still sends is read and dropped for this long, at most. */
const LINGER_MS = 2000;
const LINGER_BYTES = 1024 * 1024;
/** Answers up to this size are put together in the connection's own buffer. */
const SCRATCH = 16 * 1024;
/** The write timeout applies to each piece this large. */
const WRITE_PIECE = 64 * 1024;

export function serveHttp1(opts: ServerOptions, handler: Handler): Http1Server {
  const listener = Deno.listen({ hostname: opts.hostname, port: opts.port, transport: "tcp" });
  const state: ServerState = {
    handler,
    draining: false,
    maxHeadBytes: opts.maxHeadBytes ?? 64 * 1024,
    maxFields: opts.maxFields ?? 100,
    idleTimeoutMs: opts.idleTimeoutMs ?? 120_000,
    headTimeoutMs: opts.headTimeoutMs ?? 30_000,
    bodyTimeoutMs: opts.bodyTimeoutMs ?? 60_000,
    writeTimeoutMs: opts.writeTimeoutMs ?? 60_000,
    refusal: opts.refusal ?? plainRefusal,
  };
  const conns = new Set<Connection>();
  let allClosed: (() => void) | null = null;

  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const c of conns) if (c.deadline && now > c.deadline) c.close();
  }, opts.sweepMs ?? 1000);
  Deno.unrefTimer(sweeper);

  const accepting = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (state.draining || e instanceof Deno.errors.BadResource) return;
        // Out of file descriptors, say: wait a little rather than spin.
        log.warn("accept failed", { error: (e as Error).message });
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (state.draining) {
        safeClose(conn);
        continue;
      }
      conn.setNoDelay(true);
      const c = new Connection(conn, state);
      conns.add(c);
      c.run().finally(() => {
        conns.delete(c);
        if (!conns.size) allClosed?.();
      });
    }
  })();

  const stop = () => {
    state.draining = true;
    safeClose(listener);
  };
  return {
    addr: listener.addr as Deno.NetAddr,
    async shutdown() {
      stop();
      await accepting;
      const done = new Promise<void>((r) => allClosed = r);
      for (const c of conns) if (c.idle) c.close();
      // Deadlines still apply to the connections that finish their answers.
      if (conns.size) await done;
      clearInterval(sweeper);
    },
    close() {
      stop();
      clearInterval(sweeper);
      for (const c of conns) c.close();
    },
  };
}

/** One client connection: reads requests one at a time, writes their answers in order. */
class Connection implements BodyConnection {
  #buf: Bytes = new Uint8Array(8 * 1024);
  /** Unconsumed bytes are #buf[#start, #end). */
  #start = 0;
  #end = 0;
  /** The read in progress, if any: true when bytes arrived, false at the end of input. */
  #reading: Promise<boolean> | null = null;
  #eof = false;
  #closed = false;
  /** While an answer is pending: keep a read going so a disconnect is noticed. */
  #watching = false;
  #abort: AbortController | null = null;
  /** Where answers are put together before their write (reused: each write ends before the next). */
  #out: Bytes | null = null;
  /** Close gently: the client may still be sending what we did not read. */
  #linger = false;
  /** When the current wait gives up (ms since the epoch); 0 = no deadline. */
  deadline = 0;
  /** Waiting for a request with no byte of it received (shutdown may close it). */
  idle = true;

  constructor(readonly conn: Deno.TcpConn, readonly s: ServerState) {}

  async run(): Promise<void> {
    try {
      while (!this.#closed) {
        let head: RequestHead | null;
        try {
          head = await this.#nextHead();
        } catch (e) {
          if (!(e instanceof RequestHeadError)) throw e;
          await this.#refuse(e.status, e.message);
          this.#linger = true;
          return;
        }
        if (!head) return;
        if (!await this.#exchange(head) || this.s.draining) return;
      }
    } catch (e) {
      if (!isConnectionLoss(e)) log.warn("connection failed", { error: (e as Error).message });
    } finally {
      if (this.#linger) await this.#lingerClose();
      this.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort?.abort();
    safeClose(this.conn);
  }

  /** A buffer of at least `size` bytes: the connection's own when that is big enough. */
  #scratch(size: number): Bytes {
    if (size > SCRATCH) return new Uint8Array(size);
    return this.#out ??= new Uint8Array(SCRATCH);
  }

  /** Reads more input into the buffer (or joins the read in progress); false at its end. */
  #fill(): Promise<boolean> {
    if (this.#reading) return this.#reading;
    if (this.#eof || this.#closed) return Promise.resolve(false);
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        const bigger = new Uint8Array(this.#buf.length * 2);
        bigger.set(this.#buf);
        this.#buf = bigger;
      }
    }
    const reading = this.conn.read(this.#buf.subarray(this.#end)).then(
      (n) => {
        this.#reading = null;
        if (n === null) this.#eof = true;
        else this.#end += n;
        return n !== null;
      },
      (e) => {
        this.#reading = null;
        this.#eof = true;
        if (!isConnectionLoss(e)) log.warn("read failed", { error: (e as Error).message });
        return false;
      },
    );
    return this.#reading = reading;
  }

  /** The next request's head; null when the client closed the connection between requests. */
  async #nextHead(): Promise<RequestHead | null> {
    this.#watching = false;
    /** Bytes after #start already searched for the head's end (offsets move when #fill compacts). */
    let scanned = 0;
    this.idle = this.#start === this.#end;
    this.deadline = Date.now() + (this.idle ? this.s.idleTimeoutMs : this.s.headTimeoutMs);
    for (;;) {
      const buf = this.#buf;
      // Empty lines before a request line are ignored (RFC 9112 §2.2).
      while (
        this.#end - this.#start >= 2 && buf[this.#start] === 13 && buf[this.#start + 1] === 10
      ) {
        this.#start += 2;
        scanned = Math.max(0, scanned - 2);
      }
      const end = headEnd(buf, this.#start + Math.max(0, scanned - 3), this.#end);
      if (end >= 0) {
        if (end - this.#start > this.s.maxHeadBytes) break;
        const head = parseRequestHead(buf.subarray(this.#start, end), this.s);
        this.#start = end;
        this.idle = false;
        this.deadline = 0;
        return head;
      }
      if (this.#end - this.#start >= this.s.maxHeadBytes) break;
      scanned = this.#end - this.#start;
      if (!await this.#fill()) {
        // The end of input mid-head is a client giving up, not a request to answer.
        return null;
      }
      if (this.idle && this.#end > this.#start) {
        this.idle = false;
        this.deadline = Date.now() + this.s.headTimeoutMs;
      }
    }
    throw new RequestHeadError(431, `the request head exceeds ${this.s.maxHeadBytes} bytes`);
  }

  /** Answers one request; whether the connection can carry the next one. */
  async #exchange(head: RequestHead): Promise<boolean> {
    const abort = this.#abort = new AbortController();
    const body = new BodyReader(this, head);
    const req = new IncomingRequest(
      head.method,
      head.target,
      new Fields(head.names, head.values),
      abort.signal,
      (max) => body.read(max),
    );
    if (!head.chunked && head.length === 0) this.watch();
    let reply: Reply | Response;
    try {
      reply = await this.s.handler(req);
    } catch (e) {
      log.warn("handler failed", { path: head.target, error: (e as Error).message });
      reply = this.s.refusal(500, "internal error");
    }
    // A body the handler left unread (a refusal before reading it): drop a small one,
    // else close after answering rather than read megabytes nobody wants.
    // With `Expect: 100-continue` and no go-ahead sent, whether the body follows is the
    // client's guess: close rather than read the next request from the middle of it.
    const unread = body.state === "unread" &&
      (head.chunked || head.length > DRAIN_MAX || (head.expectContinue && head.length > 0));
    if (unread || body.state === "failed") this.#linger = true;
    let keepAlive = head.keepAlive && !this.s.draining && !this.#linger;
    keepAlive = await this.#write(reply, head, keepAlive, abort);
    this.#watching = false;
    this.#abort = null;
    if (keepAlive && body.state === "unread" && !await body.drain()) {
      this.#linger = true;
      keepAlive = false;
    }
    return keepAlive && !this.#eof;
  }

  /**
   * Keeps a read going while the answer is pending, so a client that goes
   * away aborts the request's signal (and so the neuron's work). Bytes that
   * arrive meanwhile (a pipelined request) are kept for later.
   */
  watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    const next = () => {
      if (!this.#watching || this.#end - this.#start >= READ_AHEAD) return;
      this.#fill().then((more) => {
        if (!more) {
          if (this.#watching) this.#abort?.abort();
        } else next();
      });
    };
    next();
  }

  /** Writes the answer; whether the connection stays usable. */
  async #write(
    reply: Reply | Response,
    head: RequestHead,
    keepAlive: boolean,
    abort: AbortController,
  ): Promise<boolean> {
    const r = reply instanceof Response ? await fromResponse(reply) : reply;
    const noBody = statusHasNoBody(r.status) || head.method === "HEAD";
    const body = r.body;
    let framing: Framing;
    if (noBody) framing = { kind: "none" };
    else if (body === null) framing = { kind: "length", length: 0 };
    else if (body instanceof Uint8Array) framing = { kind: "length", length: body.length };
    else if (r.length !== undefined) framing = { kind: "length", length: r.length };
    else if (head.minor === 1) framing = { kind: "chunked" };
    else framing = { kind: "close" };
    if (framing.kind === "close") keepAlive = false;
    const headLength = head.method === "HEAD" && body instanceof Uint8Array
      ? body.length
      : undefined;
    const text = encodeHead(
      r.status,
      r.statusText,
      r.headers,
      framing,
      keepAlive,
      head.minor,
      headLength,
    );

    if (
      framing.kind !== "chunked" && framing.kind !== "close" && !(body instanceof ReadableStream)
    ) {
      // Head and body in one write.
      const bytes = body && framing.kind === "length" ? body : null;
      const out = this.#scratch(text.length * 3 + (bytes?.length ?? 0));
      const { written } = enc.encodeInto(text, out);
      if (bytes) out.set(bytes, written);
      await this.send(out.subarray(0, written + (bytes?.length ?? 0)));
      return keepAlive;
    }
    const stream = body as ReadableStream<Uint8Array>;
    if (framing.kind === "none") {
      stream.cancel().catch(() => {});
      await this.send(enc.encode(text));
      return keepAlive;
    }
    return await this.#pipe(stream, enc.encode(text), framing, keepAlive, abort);
  }

  /** Streams a body after its head: each piece is written as it comes, none is held back. */
  async #pipe(
    stream: ReadableStream<Uint8Array>,
    headBytes: Bytes,
    framing: Framing,
    keepAlive: boolean,
    abort: AbortController,
  ): Promise<boolean> {
    const reader = stream.getReader();
    // The client going away cancels the stream (and with it the work upstream).
    const onAbort = () => reader.cancel(abort.signal.reason).catch(() => {});
    abort.signal.addEventListener("abort", onAbort, { once: true });
    let left = framing.kind === "length" ? framing.length : Infinity;
    try {
      await this.send(headBytes);
      for (;;) {
        let piece: ReadableStreamReadResult<Uint8Array>;
        try {
          piece = await reader.read();
        } catch {
          // The source failed: cut the answer short so the client sees it incomplete.
          return false;
        }
        if (piece.done) break;
        const data = piece.value;
        if (!data.length) continue;
        if (data.length > left) {
          log.warn("an answer's body ran past its declared length; cut", { length: framing });
          reader.cancel().catch(() => {});
          return false;
        }
        left -= data.length;
        await this.send(framing.kind === "chunked" ? chunk(data, this.#scratch(0)) : data);
      }
      if (framing.kind === "chunked") await this.send(LAST_CHUNK);
      return keepAlive && (framing.kind !== "length" || left === 0);
    } catch (e) {
      // Writing failed: the client is gone.
      reader.cancel(e).catch(() => {});
      return false;
    } finally {
      abort.signal.removeEventListener("abort", onAbort);
    }
  }

  async #refuse(status: number, message: string): Promise<void> {
    const r = this.s.refusal(status, message);
    const text = encodeHead(
      r.status,
      r.statusText,
      r.headers,
      { kind: "length", length: (r.body as Uint8Array | null)?.length ?? 0 },
      false,
      1,
    );
    const out = r.body instanceof Uint8Array ? concat(enc.encode(text), r.body) : enc.encode(text);
    await this.send(out).catch(() => {});
  }

  /**
   * Writes all of `bytes`. The deadline is for progress: each piece of at
   * most 64 KiB must be taken within the write timeout, so a slow reader of
   * a large answer is served and a client that stopped reading is dropped.
   */
  async send(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length;) {
      this.deadline = Date.now() + this.s.writeTimeoutMs;
      off += await this.conn.write(bytes.subarray(off, off + WRITE_PIECE));
    }
    this.deadline = 0;
  }

  /**
   * Closes after a refusal or an unread body without resetting the
   * connection: a close with unread input sends a reset, which can destroy
   * the refusal before the client reads it. So: stop writing, then read and
   * drop what still comes, for a moment.
   */
  async #lingerClose(): Promise<void> {
    if (this.#closed || this.#eof) return;
    this.deadline = Date.now() + LINGER_MS;
    try {
      await this.conn.closeWrite();
      if (this.#reading) await this.#reading;
      const scratch = new Uint8Array(16 * 1024);
      for (let total = 0; total < LINGER_BYTES && !this.#eof;) {
        const n = await this.conn.read(scratch);
        if (n === null) break;
        total += n;
      }
    } catch {
      // closed meanwhile (the deadline, or the client)
    }
  }

  // --- BodyConnection, for BodyReader

  get bodyTimeoutMs(): number {
    return this.s.bodyTimeoutMs;
  }
  get buffered(): Bytes {
    return this.#buf.subarray(this.#start, this.#end);
  }
  consume(n: number): void {
    this.#start += n;
  }
  get readPending(): boolean {
    return this.#reading !== null;
  }
  fill(): Promise<boolean> {
    return this.#fill();
  }
  bodyDeadline(hard: number): void {
    this.deadline = Math.min(Date.now() + this.s.bodyTimeoutMs, hard);
  }
  clearDeadline(): void {
    this.deadline = 0;
  }
  markEnded(): void {
    this.#eof = true;
  }
}
