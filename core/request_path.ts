/**
 * The path of a served request's URL without building a URL object, which
 * costs a few µs on every proxied request. Deno.serve's `req.url` is always
 * absolute (`http://host:port/path?query`); a path of plain characters is
 * cut out as is, anything that a URL parser would rewrite (dot segments,
 * percent escapes, backslashes, odd characters) goes through `URL`.
 */

const PLAIN = /^\/[A-Za-z0-9/_~-]*$/;

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
