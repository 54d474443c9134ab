/**
 * What the gateway's server writes back: a `Reply` (plain fields and a body,
 * the proxy's hot path builds no Web objects) or a standard `Response`, and
 * how a response head and chunked data are put on the wire.
 */

import type { Bytes } from "./wire.ts";

export interface Reply {
  status: number;
  statusText?: string;
  /**
   * Field pairs, lower-case names. The server frames the message itself:
   * content-length, transfer-encoding, connection, keep-alive and date given
   * here are dropped.
   */
  headers: [string, string][];
  body: Uint8Array | ReadableStream<Uint8Array> | null;
  /** The length of a stream body when known: it is then sent with content-length, not chunked. */
  length?: number;
}

/** Fields the server sets from its own framing decisions. */
const FRAMING = new Set([
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "date",
  "proxy-connection",
  "trailer",
  "upgrade",
]);

/** A value that would break the head apart (or forge another field). */
const UNSAFE = /[\r\n\0]/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  499: "Client Closed Request",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
  529: "Overloaded",
};

/** How the body is framed on the wire. */
export type Framing =
  | { kind: "none" } // HEAD, 1xx, 204, 304: no body and no length
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" }; // HTTP/1.0 stream: the body runs to the connection's end

/** Whether a status forbids a body (RFC 9110 §6.4.1). */
export function statusHasNoBody(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/**
 * The head of an answer: status line, the reply's own fields (framing ones
 * and unsafe ones dropped), then date, framing and connection fields.
 * `headLength` is the length to announce for an answer to HEAD.
 */
export function encodeHead(
  status: number,
  statusText: string | undefined,
  fields: [string, string][],
  framing: Framing,
  keepAlive: boolean,
  minor: number,
  headLength?: number,
): string {
  const reason = statusText && !UNSAFE.test(statusText) ? statusText : REASONS[status] ?? "";
  let s = `HTTP/1.1 ${status} ${reason}\r\ndate: ${httpDate()}\r\n`;
  for (let i = 0; i < fields.length; i++) {
    const [k, v] = fields[i];
    if (!TOKEN.test(k) || FRAMING.has(k.toLowerCase()) || UNSAFE.test(v)) continue;
    s += `${k}: ${v}\r\n`;
  }
  if (framing.kind === "length") s += `content-length: ${framing.length}\r\n`;
  else if (framing.kind === "chunked") s += "transfer-encoding: chunked\r\n";
  else if (headLength !== undefined) s += `content-length: ${headLength}\r\n`;
  if (!keepAlive) s += "connection: close\r\n";
  else if (minor === 0) s += "connection: keep-alive\r\n";
  return s + "\r\n";
}

/**
 * One piece of chunked data, framed (size line, data, CRLF) in one buffer:
 * `into` when it is large enough, else a new one.
 */
export function chunk(data: Uint8Array, into?: Bytes): Bytes {
  const size = data.length.toString(16);
  const length = size.length + 4 + data.length;
  const out = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
  for (let i = 0; i < size.length; i++) out[i] = size.charCodeAt(i);
  out[size.length] = 13;
  out[size.length + 1] = 10;
  out.set(data, size.length + 2);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

export const LAST_CHUNK: Bytes = new TextEncoder().encode("0\r\n\r\n");

let dateText = "";
let dateSecond = -1;

/** The `date` field's value (RFC 9110 §5.6.7), formatted once a second. */
export function httpDate(now = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/** A standard Response as a Reply. Its body is read whole unless it is an event stream. */
export async function fromResponse(res: Response): Promise<Reply> {
  const headers: [string, string][] = [];
  res.headers.forEach((v, k) => headers.push([k, v]));
  let body: Reply["body"] = null;
  if (res.body) {
    // Event streams pass through piece by piece; anything else this gateway answers is
    // one JSON document or text, sent whole with its length.
    const sse = res.headers.get("content-type")?.startsWith("text/event-stream");
    body = sse ? res.body : new Uint8Array(await res.arrayBuffer());
  }
  return { status: res.status, statusText: res.statusText, headers, body };
}
