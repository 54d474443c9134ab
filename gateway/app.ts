/**
 * The gateway's HTTP surface: OpenAI and Anthropic APIs, the Responses
 * API, the Ollama API, the operator API, and auth. Errors render in the caller's dialect:
 * Anthropic's envelope under /v1/messages, Ollama's under /api/, OpenAI's everywhere else.
 */

import { type ErrorDialect, errorResponse, HttpError } from "../core/errors.ts";
import { createLogger } from "../core/log.ts";
import { servedPath } from "../core/request_path.ts";
import { accessOf } from "./access.ts";
import { type Dashboard, eventStream } from "./dashboard/mod.ts";
import { RetryLaterError } from "./lifecycle.ts";
import { clientPeer } from "./proxy.ts";
import * as admin from "./routes/admin.ts";
import { countTokens, messages } from "./routes/anthropic.ts";
import type { Gateway } from "./routes/common.ts";
import { getModel, listModels } from "./routes/models.ts";
import type { Endpoint } from "./metrics.ts";
import * as ollama from "./routes/ollama.ts";
import { observedRequests, proxyOpenAI } from "./routes/openai.ts";
import { createResponse, getResponse } from "./routes/responses.ts";

const log = createLogger("gateway.http");

function dialectOf(path: string): ErrorDialect {
  if (path.startsWith("/api/")) return "ollama";
  return path.startsWith("/v1/messages") ? "anthropic" : "openai";
}

/**
 * The dialect of a request that has no routed path (its Host or target was refused): Deno
 * ends `req.url` with the target, so its tail still says whose client sent it.
 */
function dialectOfUnrouted(url: string): ErrorDialect {
  if (url.includes("/v1/messages")) return "anthropic";
  return url.includes("/api/") ? "ollama" : "openai";
}

/** Operator calls that change the fleet: they need an operator key when any is configured. */
const FLEET_CHANGES = new Set(["/cortex/load", "/cortex/unload", "/cortex/pull"]);

const OLLAMA_PATHS = [
  "/api/chat",
  "/api/generate",
  "/api/embed",
  "/api/embeddings",
  "/api/show",
  "/api/tags",
  "/api/ps",
  "/api/version",
  "/api/pull",
  "/api/push",
  "/api/create",
  "/api/copy",
  "/api/delete",
];

const ENDPOINT_OF: Record<string, Endpoint> = {
  "/v1/chat/completions": "chat",
  "/v1/completions": "completions",
  "/v1/embeddings": "embeddings",
  "/v1/messages": "messages",
  "/v1/messages/count_tokens": "count_tokens",
  "/v1/responses": "responses",
  "/v1/models": "models",
};

export function createGatewayHandler(
  gw: Gateway,
  dashboard?: Dashboard,
): (req: Request, info?: Deno.ServeHandlerInfo) => Promise<Response> {
  return async (req, info) => {
    const t0 = performance.now();
    // HEAD is GET without the body (RFC 9110 §9.3.2), which the server leaves out.
    const method = req.method === "HEAD" ? "GET" : req.method;
    let path: string | null = null;
    try {
      path = servedPath(req); // the query string (e.g. ?beta=true) never changes the route
      const peer = (info?.remoteAddr as Deno.NetAddr | undefined)?.hostname;
      if (peer) clientPeer.set(req.headers, peer);
      if (path === "/health" && method === "GET") {
        return Response.json({
          status: "ok",
          neurons_up: gw.fleet.neurons.filter((n) => n.up).length,
          neurons: gw.fleet.neurons.length,
        });
      }
      // The dashboard's page holds no data and no key: it asks for one and reads /cortex/events.
      // A target no URL parser accepts (`http://a:99999/`) is never the page: it stays a 4xx.
      if (dashboard && method === "GET") {
        const page = dashboard.asset(path);
        if (page && URL.canParse(req.url)) return page;
      }
      const access = accessOf(gw.options, req.headers);
      if (access === "none") {
        throw new HttpError(
          401,
          "missing or invalid API key (Authorization: Bearer … or x-api-key)",
          { code: "invalid_api_key" },
        );
      }
      if (access !== "admin" && FLEET_CHANGES.has(path)) {
        throw new HttpError(403, `${path} needs an operator key ([auth] admin_keys)`, {
          code: "admin_key_required",
        });
      }
      if (method === "POST") {
        switch (path) {
          case "/v1/chat/completions":
            return await proxyOpenAI(gw, req, "chat", path, t0);
          case "/v1/completions":
            return await proxyOpenAI(gw, req, "completions", path, t0);
          case "/v1/embeddings":
            return await proxyOpenAI(gw, req, "embeddings", path, t0);
          case "/v1/messages":
            return await messages(gw, req);
          case "/v1/messages/count_tokens":
            return await countTokens(gw, req);
          case "/v1/responses":
            return await createResponse(gw, req);
          case "/cortex/load":
            return await admin.load(gw, req);
          case "/cortex/unload":
            return await admin.unload(gw, req);
          case "/cortex/pull":
            return await admin.pull(gw, req);
          case "/api/chat":
            return await ollama.generate(gw, req, "chat");
          case "/api/generate":
            return await ollama.generate(gw, req, "generate");
          case "/api/embed":
            return await ollama.embed(gw, req);
          case "/api/embeddings":
            return await ollama.embed(gw, req, true);
          case "/api/show":
            return await ollama.show(gw, req);
          case "/api/pull":
          case "/api/push":
          case "/api/create":
          case "/api/copy":
            return ollama.unsupported(path);
        }
      } else if (method === "DELETE" && path === "/api/delete") {
        return ollama.unsupported(path);
      } else if (method === "GET") {
        if (path === "/v1/models") return listModels(gw, req);
        if (path.startsWith("/v1/models/")) return getModel(gw, pathParam(path, 11, "model"));
        if (path.startsWith("/v1/responses/")) {
          return getResponse(gw, pathParam(path, 14, "response_id"));
        }
        if (path === "/cortex/status") return admin.status(gw);
        if (path === "/cortex/events" && dashboard) {
          // A HEAD reads no body: no subscription to hold open for it.
          if (req.method === "HEAD") {
            return new Response(null, { headers: { "content-type": "text/event-stream" } });
          }
          return eventStream(dashboard.hub, req);
        }
        if (path === "/api/tags") return ollama.tags(gw);
        if (path === "/api/ps") return ollama.ps(gw);
        if (path === "/api/version") return ollama.version();
      }
      const known = [
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/responses",
        "/v1/models",
        ...OLLAMA_PATHS,
      ];
      if (known.includes(path)) {
        throw new HttpError(405, `${method} is not allowed on ${path}`, {
          code: "method_not_allowed",
        });
      }
      throw new HttpError(404, `no route ${method} ${path}`, { code: "not_found" });
    } catch (e) {
      const res = renderError(e, path ? dialectOf(path) : dialectOfUnrouted(req.url), path ?? "?");
      // Refused before a model was resolved (auth, bad JSON, unknown model): still counted,
      // under model "unknown", so dashboards see the errors without unbounded labels.
      if (!observedRequests.has(req) && path?.startsWith("/v1/")) {
        gw.metrics.observeRequest({
          model: "unknown",
          node: null,
          endpoint: ENDPOINT_OF[path] ?? "other",
          status: res.status,
          durationS: (performance.now() - t0) / 1000,
        });
      }
      return res;
    }
  };
}

/** The percent-decoded rest of `path` from `start`, or a 400 naming `param`. */
function pathParam(path: string, start: number, param: string): string {
  try {
    return decodeURIComponent(path.slice(start));
  } catch {
    throw new HttpError(400, `${param} in the path is not valid percent-encoded UTF-8`, {
      param,
      code: "invalid_path",
    });
  }
}

function renderError(e: unknown, dialect: ErrorDialect, path: string): Response {
  let err: HttpError;
  if (e instanceof HttpError) err = e;
  else if (e instanceof DOMException && e.name === "AbortError") {
    err = new HttpError(499, "client closed the request");
  } else err = new HttpError(500, `internal error: ${(e as Error).message ?? e}`);
  if (err.status >= 500) {
    log.warn("request failed", { path, status: err.status, error: err.message });
  }
  const headers: Record<string, string> = {};
  if (err instanceof RetryLaterError) headers["retry-after"] = String(err.retryAfterS);
  // Anthropic clients expect 529 for "overloaded" (no neuron can take it now).
  if (dialect === "anthropic" && err.status === 503) {
    err = new HttpError(529, err.message, { code: err.code, param: err.param });
  }
  return errorResponse(err, dialect, headers);
}
