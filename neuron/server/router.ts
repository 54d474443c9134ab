/**
 * A minimal method + path router. Routes are few and fixed, so a map of
 * exact paths plus a short list of patterns beats a general matcher.
 */

export type Handler = (
  req: Request,
  params: Record<string, string>,
) => Promise<Response> | Response;

interface PatternRoute {
  method: string;
  re: RegExp;
  names: string[];
  handler: Handler;
}

export class Router {
  #exact = new Map<string, Handler>();
  #patterns: PatternRoute[] = [];
  #paths = new Set<string>();

  on(method: string, path: string, handler: Handler): this {
    this.#paths.add(path);
    if (!path.includes(":")) {
      this.#exact.set(`${method} ${path}`, handler);
      return this;
    }
    const names: string[] = [];
    const re = new RegExp(
      "^" + path.replace(/:([a-z_]+)/g, (_, n) => {
        names.push(n);
        return "([^/]+)";
      }) + "$",
    );
    this.#patterns.push({ method, re, names, handler });
    return this;
  }

  /** The handler for a request, "method" when the path exists with another method, or null. */
  match(
    method: string,
    path: string,
  ): { handler: Handler; params: Record<string, string> } | "method" | null {
    const h = this.#exact.get(`${method} ${path}`);
    if (h) return { handler: h, params: {} };
    let other = false;
    for (const r of this.#patterns) {
      const m = r.re.exec(path);
      if (!m) continue;
      if (r.method !== method) {
        other = true;
        continue;
      }
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => params[n] = decodeURIComponent(m[i + 1]));
      return { handler: r.handler, params };
    }
    if (other || this.#paths.has(path)) return "method";
    return null;
  }
}
