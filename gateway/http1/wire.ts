/**
 * HTTP/1.1 framing shared by the gateway's client (to neurons) and server
 * (to its callers): finding the end of a head, chunked bodies (RFC 9112
 * §7.1), and the few socket helpers both sides need.
 */

export type Bytes = Uint8Array<ArrayBuffer>;

const dec = new TextDecoder();

/** The offset just past the first CRLFCRLF ending in [from, n), or -1. */
export function headEnd(b: Uint8Array, from: number, n: number): number {
  const v = b.subarray(0, n);
  for (let i = v.indexOf(10, from + 3); i >= 0; i = v.indexOf(10, i + 1)) {
    if (v[i - 1] === 13 && v[i - 2] === 10 && v[i - 3] === 13) return i + 1;
  }
  return -1;
}

/**
 * The size on a chunk-size line (RFC 9112 §7.1): 1 to 8 hex digits, optional
 * whitespace around them, extensions after `;` ignored. Throws otherwise.
 */
export function chunkSize(line: Uint8Array): number {
  let i = 0;
  while (i < line.length && (line[i] === 32 || line[i] === 9)) i++;
  const start = i;
  let size = 0;
  for (; i < line.length; i++) {
    const d = hexDigit(line[i]);
    if (d < 0) break;
    size = size * 16 + d;
  }
  const digits = i - start;
  while (i < line.length && (line[i] === 32 || line[i] === 9)) i++;
  if (digits < 1 || digits > 8 || (i < line.length && line[i] !== 59 /* ; */)) {
    throw new Error(`malformed chunk size: ${JSON.stringify(dec.decode(line.subarray(0, 40)))}`);
  }
  return size;
}

/** The value of an ASCII hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  const lower = c | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1; // a-f, A-F
}

/** A line longer than this inside a chunked body (size line or trailer) is refused. */
const MAX_LINE = 4096;
/** Trailer fields are read and dropped, up to this much. */
const MAX_TRAILERS = 16 * 1024;

/**
 * Decodes a chunked body as its bytes arrive. Each call decodes what it can
 * and says how much it used; the caller keeps the rest (an incomplete line)
 * and calls again with more bytes after it. Trailers are dropped.
 *
 * `strict` (the server side) takes only what RFC 9112 allows, because lines
 * that parsers read differently are how requests get smuggled: CRLF line
 * ends, no whitespace before the size or after it unless an extension
 * follows, no control characters in extensions, trailers that are field
 * lines. The client side is lenient (bare LF, whitespace), as browsers are.
 */
export class ChunkedDecoder {
  /** Data bytes left in the current chunk; -1 = a size line is next; -2 = trailers; -3 = the CRLF after data. */
  #left = -1;
  #trailerBytes = 0;
  ended = false;

  constructor(readonly strict = false) {}

  /** Decodes from `buf`, pushing views of chunk data onto `out`; returns the bytes used. */
  decode(buf: Uint8Array, out: Uint8Array[]): number {
    let at = 0;
    while (!this.ended) {
      if (this.#left > 0) {
        if (at === buf.length) break;
        const take = Math.min(this.#left, buf.length - at);
        out.push(buf.subarray(at, at + take));
        at += take;
        this.#left -= take;
        if (this.#left === 0) this.#left = -3;
        continue;
      }
      const nl = buf.indexOf(10, at);
      if (nl < 0) {
        if (buf.length - at > MAX_LINE) throw new Error("malformed chunked body: line too long");
        break;
      }
      const cr = nl > at && buf[nl - 1] === 13;
      if (this.strict && !cr) throw new Error("malformed chunked body: a line ends without CRLF");
      const line = buf.subarray(at, cr ? nl - 1 : nl);
      if (line.length > MAX_LINE) throw new Error("malformed chunked body: line too long");
      at = nl + 1;
      if (this.#left === -3) {
        if (line.length !== 0) throw new Error("malformed chunked body: no CRLF after chunk data");
        this.#left = -1;
      } else if (this.#left === -1) {
        if (this.strict && !strictSizeLine(line)) {
          throw new Error("malformed chunked body: a chunk-size line outside RFC 9112");
        }
        this.#left = chunkSize(line);
        if (this.#left === 0) this.#left = -2;
      } else if (line.length === 0) {
        this.ended = true; // the end of the trailer section
      } else if ((this.#trailerBytes += line.length) > MAX_TRAILERS) {
        throw new Error("malformed chunked body: trailers too large");
      } else if (this.strict && !fieldLine(line)) {
        throw new Error("malformed chunked body: a trailer that is not a field line");
      }
    }
    return at;
  }
}

/** HTAB, SP, visible ASCII or obs-text: what a field value or an extension may hold. */
function textByte(b: number): boolean {
  return b === 9 || (b >= 0x20 && b !== 0x7f);
}

/** tchar (RFC 9110 §5.6.2). */
function tokenByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a) ||
    "!#$%&'*+-.^_`|~".includes(String.fromCharCode(b));
}

/** `1*HEXDIG [ BWS ";" extension-text ]`. */
function strictSizeLine(line: Uint8Array): boolean {
  let i = 0;
  while (i < line.length && hexDigit(line[i]) >= 0) i++;
  if (i === 0) return false;
  while (i < line.length && (line[i] === 32 || line[i] === 9)) i++;
  if (i === line.length) return line[i - 1] !== 32 && line[i - 1] !== 9;
  if (line[i] !== 59 /* ; */) return false;
  for (i++; i < line.length; i++) if (!textByte(line[i])) return false;
  return true;
}

/** `token ":" field-text` (a trailer field). */
function fieldLine(line: Uint8Array): boolean {
  let i = 0;
  while (i < line.length && tokenByte(line[i])) i++;
  if (i === 0 || line[i] !== 58 /* : */) return false;
  for (i++; i < line.length; i++) if (!textByte(line[i])) return false;
  return true;
}

export function concat(a: Uint8Array, b: Uint8Array): Bytes {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** Whether `e` says the peer went away (reset, closed, or the socket was closed here). */
export function isConnectionLoss(e: unknown): boolean {
  return e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.ConnectionAborted || e instanceof Deno.errors.UnexpectedEof ||
    e instanceof Deno.errors.NotConnected || e instanceof Deno.errors.BadResource ||
    e instanceof Deno.errors.Interrupted;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function safeClose(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
