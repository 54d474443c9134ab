/**
 * Parsing a request head (RFC 9112 §3, §5, §6) for the gateway's server.
 * Strict where parsers disagree, because that is how requests get smuggled
 * past one of them: CRLF line ends only, no obs-fold, no whitespace before
 * the colon, Content-Length as plain digits, Transfer-Encoding exactly
 * `chunked`, never both. Anything else is refused with the status the RFC
 * names, and the server closes the connection after saying so.
 */

/** A request the server refuses before its handler sees it. */
export class RequestHeadError extends Error {
  override name = "RequestHeadError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface RequestHead {
  method: string;
  /** The request target as sent: `/path?query`, `*`, or an absolute URL. */
  target: string;
  /** The HTTP/1.x minor version: 0 or 1. */
  minor: number;
  /** Field names, lower-cased, in the order received (repeats kept). */
  names: string[];
  values: string[];
  /** Content-Length, or 0 when the request has no body; -1 with `chunked`. */
  length: number;
  chunked: boolean;
  /** Whether the connection may carry another request after this one. */
  keepAlive: boolean;
  /** `Expect: 100-continue`: the client waits for a go-ahead before the body. */
  expectContinue: boolean;
}

export interface HeadLimits {
  /** More fields than this: 431. */
  maxFields: number;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP\/(\d)\.(\d)$/;
const DIGITS = /^\d{1,15}$/;

const ascii = new TextDecoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses the head in `bytes` (request line to the blank line, CRLFCRLF
 * included). Throws RequestHeadError with the status to answer.
 */
export function parseRequestHead(bytes: Uint8Array, limits: HeadLimits): RequestHead {
  const text = decodeHead(bytes);
  let eol = text.indexOf("\r\n");
  const m = REQUEST_LINE.exec(text.slice(0, eol));
  if (!m) throw new RequestHeadError(400, `malformed request line: ${quote(text.slice(0, eol))}`);
  const [, method, target, major, minorText] = m;
  if (major !== "1" || (minorText !== "0" && minorText !== "1")) {
    throw new RequestHeadError(505, `HTTP/${major}.${minorText} is not supported; use HTTP/1.1`);
  }
  const minor = Number(minorText);
  if (
    target[0] !== "/" && !(target === "*" && method === "OPTIONS") &&
    !/^https?:\/\/[^/?#]/i.test(target)
  ) {
    throw new RequestHeadError(400, `malformed request target: ${quote(target)}`);
  }

  const names: string[] = [];
  const values: string[] = [];
  let length = -1;
  let te: string | null = null;
  let hosts = 0;
  let connection: string | null = null;
  let expect: string | null = null;
  // The head ends with CRLFCRLF: the last field line ends where the blank line starts.
  const last = text.length - 4;
  for (let at = eol + 2; at <= last; at = eol + 2) {
    eol = text.indexOf("\r\n", at);
    if (names.length === limits.maxFields) {
      throw new RequestHeadError(431, `more than ${limits.maxFields} header fields`);
    }
    const c = text.indexOf(":", at);
    const name = c > at && c < eol ? text.slice(at, c) : "";
    if (!TOKEN.test(name)) {
      // Covers obs-fold (a line starting with whitespace) and whitespace before the colon.
      throw new RequestHeadError(400, `malformed header field: ${quote(text.slice(at, eol))}`);
    }
    const key = name.toLowerCase();
    const value = trimOws(text, c + 1, eol);
    names.push(key);
    values.push(value);
    switch (key) {
      case "content-length":
        if (!DIGITS.test(value) || (length >= 0 && Number(value) !== length)) {
          throw new RequestHeadError(400, `bad content-length: ${quote(value)}`);
        }
        length = Number(value);
        break;
      case "transfer-encoding":
        te = te === null ? value : `${te}, ${value}`;
        break;
      case "host":
        hosts++;
        break;
      case "connection":
        connection = connection === null ? value : `${connection}, ${value}`;
        break;
      case "expect":
        expect = value.toLowerCase();
    }
  }

  if (minor === 1 && hosts !== 1) {
    throw new RequestHeadError(
      400,
      hosts ? "more than one host field" : "the host field is missing",
    );
  }
  let chunked = false;
  if (te !== null) {
    if (length >= 0) {
      throw new RequestHeadError(400, "both content-length and transfer-encoding were sent");
    }
    if (minor === 0) throw new RequestHeadError(400, "transfer-encoding in an HTTP/1.0 request");
    const codings = te.toLowerCase().split(",").map((s) => s.trim()).filter(Boolean);
    if (codings.at(-1) !== "chunked") {
      throw new RequestHeadError(400, `transfer-encoding must end with chunked: ${quote(te)}`);
    }
    if (codings.length !== 1) {
      throw new RequestHeadError(501, `transfer coding not supported: ${quote(te)}`);
    }
    chunked = true;
  }
  if (expect !== null && expect !== "100-continue") {
    throw new RequestHeadError(417, `expectation not supported: ${quote(expect)}`);
  }
  let keepAlive = minor === 1;
  if (connection !== null) {
    const tokens = connection.toLowerCase().split(",").map((s) => s.trim());
    keepAlive = !tokens.includes("close") && (minor === 1 || tokens.includes("keep-alive"));
  }
  return {
    method,
    target,
    minor,
    names,
    values,
    length: chunked ? -1 : Math.max(length, 0),
    chunked,
    keepAlive,
    // HTTP/1.0 clients cannot mean it (RFC 9110 §10.1.1).
    expectContinue: minor === 1 && expect === "100-continue",
  };
}

/**
 * The head as text, after one pass over its bytes: controls other than
 * HTAB, and any CR or LF that is not part of a CRLF, are refused; bytes past
 * ASCII must be valid UTF-8.
 */
function decodeHead(bytes: Uint8Array): string {
  let plain = true;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b >= 0x20 && b < 0x7f) continue;
    if (b >= 0x80) plain = false;
    else if (b === 13 ? bytes[i + 1] !== 10 : b === 10 ? bytes[i - 1] !== 13 : b !== 9) {
      throw new RequestHeadError(
        400,
        "the request head has a control character or a bare CR or LF",
      );
    }
  }
  if (plain) return ascii.decode(bytes);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new RequestHeadError(400, "the request head is not valid UTF-8");
  }
}

/** `text` in [from, to), without the optional whitespace (SP, HTAB) around the value. */
function trimOws(text: string, from: number, to: number): string {
  let a = from;
  let b = to;
  const line = text;
  while (a < b && (line.charCodeAt(a) === 32 || line.charCodeAt(a) === 9)) a++;
  while (b > a && (line.charCodeAt(b - 1) === 32 || line.charCodeAt(b - 1) === 9)) b--;
  return line.slice(a, b);
}

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}
