/**
 * The neuron's HTTP surface: lifecycle and node endpoints, OpenAI
 * inference, Prometheus metrics. Errors are OpenAI-shaped; a 5xx means a
 * node failure, never the client's input.
 */

import { bearerToken, secretEquals } from "../../core/auth.ts";
import { errorResponse, HttpError } from "../../core/errors.ts";
import { createLogger } from "../../core/log.ts";
import { servedPath } from "../../core/request_path.ts";
import { chatCompletions } from "../api/chat.ts";
import { completions } from "../api/completions.ts";
import { embeddings } from "../api/embeddings.ts";
import { loadModel, unloadModel } from "../api/lifecycle.ts";
import {
  discovery,
  health,
  listModels,
  openaiModels,
  showModel,
  version,
} from "../api/node_info.ts";
import { pullModel } from "../api/pull.ts";
import { tokenize } from "../api/tokenize.ts";
import { EngineError } from "../engine/types.ts";
import { NeuronMetrics } from "../metrics.ts";
import type { Neuron } from "../node.ts";
import { engineHttpError, readJson } from "./http.ts";
import { Router } from "./router.ts";

export interface AppOptions {
  /** Shared secret for everything but /health and /version. */
  token?: string;
  maxBodyBytes: number;
}

const OPEN = new Set(["/health", "/version"]);

export function createNeuronApp(neuron: Neuron, opts: AppOptions) {
  const log = createLogger("neuron.http");
  const metrics = new NeuronMetrics(neuron);
  neuron.onFinished = (model, endpoint, status, usage) => {
    metrics.requests.inc({ model, endpoint, status });
    if (usage) {
      metrics.promptTokens.inc({ model }, usage.promptTokens);
      metrics.generatedTokens.inc({ model }, usage.completionTokens);
      metrics.draftedTokens.inc({ model }, usage.draftedTokens);
      metrics.acceptedTokens.inc({ model }, usage.acceptedTokens);
    }
  };
  const body = (req: Request) => readJson(req, opts.maxBodyBytes);
  const router = new Router()
    .on("GET", "/version", () => version(neuron))
    .on("GET", "/health", () => health(neuron))
    .on("GET", "/discovery", () => discovery(neuron))
    .on("GET", "/models", () => listModels(neuron))
    .on("POST", "/models/load", async (req) => loadModel(neuron, await body(req)))
    .on("POST", "/models/unload", async (req) => unloadModel(neuron, await body(req)))
    .on("POST", "/models/show", async (req) => showModel(neuron, await body(req)))
    .on(
      "POST",
      "/models/pull",
      async (req) => pullModel(neuron, await body(req), { signal: req.signal }),
    )
    .on("POST", "/tokenize", async (req) => tokenize(neuron, await body(req)))
    .on("GET", "/metrics", () => metrics.render())
    .on("GET", "/v1/models", () => openaiModels(neuron))
    .on(
      "POST",
      "/v1/chat/completions",
      async (req) => chatCompletions(neuron, req, await body(req)),
    )
    .on("POST", "/v1/completions", async (req) => completions(neuron, await body(req), req.signal))
    .on("POST", "/v1/embeddings", async (req) => embeddings(neuron, await body(req)));

  return async (req: Request): Promise<Response> => {
    let path = "/";
    try {
      path = servedPath(req);
      if (opts.token && !OPEN.has(path)) {
        const given = bearerToken(req.headers);
        if (given === null || !secretEquals(given, opts.token)) {
          throw new HttpError(401, "missing or wrong bearer token", { code: "invalid_api_key" });
        }
      }
      const m = router.match(req.method, path);
      if (m === null) {
        throw new HttpError(404, `no route ${req.method} ${path}`, { code: "not_found" });
      }
      if (m === "method") {
        throw new HttpError(405, `${req.method} is not allowed on ${path}`, {
          code: "method_not_allowed",
        });
      }
      return await m.handler(req, m.params);
    } catch (e) {
      const err = e instanceof HttpError
        ? e
        : e instanceof EngineError
        ? engineHttpError(e)
        : new HttpError(500, `internal error: ${(e as Error).message}`);
      if (err.status >= 500) {
        log.error("request failed", { path, error: err.message });
      }
      return errorResponse(err, "openai");
    }
  };
}
