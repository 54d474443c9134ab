/**
 * The path of a served request's URL without building a URL object, which
 * costs a few µs on every proxied request. Deno.serve's `req.url` is always
 * absolute (`http://host:port/path?query`); a path of plain characters is
 * cut out as is, anything that a URL parser would rewrite (dot segments,
 * percent escapes, backslashes, odd characters) goes through `URL`.
 */

import { HttpError } from "./errors.ts";

const PLAIN = /^\/[A-Za-z0-9/_~-]*$/;

/**
 * A Host value as RFC 3986 allows it (reg-name, IPv4, [IPv6], optional port). Deno.serve
 * builds `req.url` from the Host header, so one holding `/`, `?`, `#` or `@` would move
 * where the path starts: `Host: x/v1/chat` made `POST /completions` a chat request.
 */
const HOST = /^[A-Za-z0-9._~!$&'()*+,;=%:[\]-]*$/;

/**
 * The path a served request is routed by, or a 400 when its Host header could change it or
 * its target is no valid URL.
 */
export function servedPath(req: Request): string {
  const host = req.headers.get("host");
  if (host !== null && !HOST.test(host)) {
    throw new HttpError(400, "the Host header is not a valid host", { code: "invalid_host" });
  }
  try {
    return requestPath(req.url);
  } catch {
    throw new HttpError(400, "the request target is not a valid URL", { code: "invalid_path" });
  }
}

export function requestPath(url: string): string {
  let start = -1;
  let end = url.length;
  for (let i = url.indexOf("://") + 3; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) {
      end = i;
      break;
    }
    if (c === 47 /* / */ && start < 0) start = i;
  }
  if (start < 0) return "/";
  const path = url.slice(start, end);
  return PLAIN.test(path) ? path : new URL(url).pathname;
}
