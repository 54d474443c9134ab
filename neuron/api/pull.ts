/**
 * `POST /models/pull`: downloads an `hf:` model into the first store dir
 * (`model_dirs[0]`). Body `{source, stream?}`; the answer is a PullResult, or
 * with `stream: true` SSE `event: progress` frames then `event: done` (the
 * PullResult) or `event: error`. The hub is `HF_ENDPOINT` (default
 * huggingface.co), authenticated with `HF_TOKEN` when set, both read per pull.
 */

import { HttpError, toHttpError } from "../../core/errors.ts";
import { createLogger } from "../../core/log.ts";
import {
  type PullErrorEvent,
  type PullProgress,
  PullRequestSchema,
  type PullResult,
} from "../../core/neuron/pull.ts";
import { parseOpenAIBody } from "../../core/openai/mod.ts";
import { formatSseJson } from "../../core/sse.ts";
import type { NeuronSettings } from "../node.ts";
import { json } from "../server/http.ts";
import { hubConfigFromEnv, HubError } from "../store/hf_source.ts";
import { PullError, PullRegistry, type PullTuning } from "../store/pull.ts";

/** What a pull needs of the neuron (a `Neuron` is one). */
export interface PullHost {
  readonly settings: Pick<NeuronSettings, "modelDirs">;
}

export interface PullCallOptions extends PullTuning {
  /** The HTTP request's signal: a non-streamed pull stops when its client goes. */
  signal?: AbortSignal;
  /** Environment lookup for HF_ENDPOINT and HF_TOKEN (default `Deno.env.get`). */
  env?: (name: string) => string | undefined;
}

// One registry per neuron, so that concurrent pulls of one model share a download.
const registries = new WeakMap<PullHost, PullRegistry>();

function registryFor(host: PullHost): PullRegistry {
  let r = registries.get(host);
  if (!r) {
    r = new PullRegistry();
    registries.set(host, r);
  }
  return r;
}

/** The HTTP error for a failed pull: 4xx for what the caller named, 502 for the hub's faults. */
export function pullHttpError(e: unknown): HttpError {
  if (e instanceof PullError) {
    switch (e.code) {
      case "invalid_source":
        return new HttpError(400, e.message, { code: "invalid_source", param: "source" });
      case "conflict":
        return new HttpError(409, e.message, { code: "model_conflict", param: "source" });
      case "cancelled":
        return new HttpError(409, e.message, { code: "pull_cancelled" });
      case "unsafe_path":
      case "size_mismatch":
      case "checksum_mismatch":
        return new HttpError(502, e.message, { code: e.code });
    }
  }
  if (e instanceof HubError) {
    switch (e.code) {
      case "not_found":
        return new HttpError(404, e.message, { code: "model_not_found", param: "source" });
      case "ambiguous":
        return new HttpError(400, e.message, { code: "ambiguous_source", param: "source" });
      case "unauthorized":
        return new HttpError(403, e.message, { code: "hub_unauthorized", param: "source" });
      case "forbidden":
        return new HttpError(403, e.message, { code: "hub_forbidden", param: "source" });
      case "invalid_config":
        return new HttpError(500, e.message, { code: "hub_config" });
      case "network":
        return new HttpError(502, e.message, { code: "hub_unreachable" });
      case "bad_listing":
      case "hub_error":
        return new HttpError(502, e.message, { code: e.code });
    }
  }
  return toHttpError(e);
}

export async function pullModel(
  neuron: PullHost,
  body: unknown,
  options: PullCallOptions = {},
): Promise<Response> {
  const req = parseOpenAIBody(PullRequestSchema, body);
  const storeDir = neuron.settings.modelDirs[0];
  if (!storeDir) {
    throw new HttpError(500, "the neuron has no model_dirs to pull into", {
      code: "no_model_store",
    });
  }
  const log = createLogger("neuron.pull");
  let hub;
  try {
    hub = hubConfigFromEnv(options.env ?? ((n) => Deno.env.get(n)));
  } catch (e) {
    throw pullHttpError(e);
  }
  const { signal: _, env: __, ...tuning } = options;
  const registry = registryFor(neuron);
  const run = (signal: AbortSignal | undefined, onProgress?: (p: PullProgress) => void) => {
    log.info("pull started", { source: req.source, endpoint: hub.endpoint, dir: storeDir });
    return registry.pull(req.source, { ...tuning, hub, storeDir, signal, onProgress }).then(
      (r: PullResult) => {
        log.info("pull finished", { model: r.model, bytes: r.size_bytes, already: r.already });
        return r;
      },
      (e: unknown) => {
        log.warn("pull failed", { source: req.source, error: (e as Error).message });
        throw e;
      },
    );
  };

  if (!req.stream) {
    try {
      return json(await run(options.signal));
    } catch (e) {
      throw pullHttpError(e);
    }
  }

  const enc = new TextEncoder();
  const client = new AbortController();
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      const send = (frame: string) => {
        try {
          c.enqueue(enc.encode(frame));
        } catch {
          // client gone; the abort below stops the pull
        }
      };
      run(client.signal, (p) => send(formatSseJson(p, "progress"))).then(
        (r) => send(formatSseJson(r, "done")),
        (e) => {
          const h = pullHttpError(e);
          const ev: PullErrorEvent = {
            status: h.status,
            error: { message: h.message, code: h.code },
          };
          send(formatSseJson(ev, "error"));
        },
      ).finally(() => {
        try {
          c.close();
        } catch {
          // already closed
        }
      });
    },
    cancel() {
      // The client went away: stop (the partial stays for the next pull to resume).
      client.abort();
    },
  });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}
