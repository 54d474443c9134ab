/** What every gateway route needs: its dependencies, body reading, model resolution. */

import type { ErrorDialect } from "../../core/errors.ts";
import { HttpError } from "../../core/errors.ts";
import { bodyText, parseJsonText, readBodyLimited } from "../../core/http_body.ts";
import type { ResponseStore } from "../../core/responses/mod.ts";
import type { Catalogue, CatalogueEntry } from "../catalogue.ts";
import type { Deadlines } from "../deadlines.ts";
import type { Fleet } from "../fleet.ts";
import type { Lifecycle } from "../lifecycle.ts";
import type { Endpoint, GatewayMetrics } from "../metrics.ts";
import type { UsageTracker } from "../usage.ts";

export interface GatewayOptions {
  maxBodyBytes: number;
  /** A stream silent this long is treated as a dead neuron. */
  streamIdleMs: number;
  apiKeys: string[];
  /** `[auth] admin_keys`: needed to load, unload and pull when any is set. */
  adminKeys: string[];
  /** `[eviction] idle_ttl` (0 or absent: off), which `/api/ps` reports expiry times from. */
  idleTtlMs?: number;
}

export interface Gateway {
  fleet: Fleet;
  catalogue: Catalogue;
  lifecycle: Lifecycle;
  usage: UsageTracker;
  metrics: GatewayMetrics;
  responses: ResponseStore;
  options: GatewayOptions;
  /** `[gateway] request_timeout`, when set. */
  deadlines: Deadlines | null;
  /** Aborted when a shutdown's grace period ends: cuts every request still running. */
  closing: AbortController;
}

/**
 * The request's whole body, under the gateway's size limit (413 beyond it,
 * before reading when the length is declared), within `BODY_DEADLINE_MS`.
 */
export async function readBody(req: Request, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HttpError(408, `the request body took longer than ${BODY_DEADLINE_MS / 1000} s`, {
            code: "request_timeout",
          }),
        ),
      BODY_DEADLINE_MS,
    );
  });
  try {
    return await Promise.race([readBodyLimited(req, maxBytes), late]);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    // The client stopped sending midway (or went away): its fault, not ours.
    throw new HttpError(400, `the request body could not be read: ${(e as Error).message}`, {
      code: "invalid_body",
    });
  } finally {
    clearTimeout(timer);
  }
}

/** Longest a client may take to send its body: a slow upload holds a request open. */
export const BODY_DEADLINE_MS = 60_000;

export function parseJsonBody(bytes: Uint8Array): Record<string, unknown> {
  const v = parseJsonText(bodyText(bytes));
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new HttpError(400, "request body must be a JSON object", { code: "invalid_type" });
  }
  return v as Record<string, unknown>;
}

/** The catalogue entry a request names, or a 4xx naming `model`. */
export function resolveModel(gw: Gateway, model: unknown, _dialect: ErrorDialect): CatalogueEntry {
  if (typeof model !== "string" || !model) {
    throw new HttpError(400, "model is required (a string)", {
      param: "model",
      code: model === undefined ? "missing_required_parameter" : "invalid_type",
    });
  }
  const entry = gw.catalogue.resolve(model);
  if (!entry) {
    const declared = gw.catalogue.declared(model);
    throw new HttpError(
      declared ? 503 : 404,
      declared
        ? `model ${model} is configured but no live neuron can load it right now`
        : `model ${model} does not exist here; GET /v1/models lists what is served`,
      { param: "model", code: declared ? "model_unavailable" : "model_not_found" },
    );
  }
  return entry;
}

const SAMPLING_KEYS = [
  "temperature",
  "top_p",
  "top_k",
  "min_p",
  "repeat_penalty",
  "presence_penalty",
  "frequency_penalty",
  "seed",
] as const;

/**
 * Applies the model's profile to an OpenAI-dialect body in place: the
 * canonical id for an alias, sampling defaults for fields the client left
 * out, and the output limit (clamped, or set when absent). Returns whether
 * anything changed (the body must then be re-serialized).
 */
export function applyProfile(
  body: Record<string, unknown>,
  entry: CatalogueEntry,
  endpoint: Endpoint,
): boolean {
  let changed = false;
  if (body.model !== entry.id) {
    body.model = entry.id;
    changed = true;
  }
  if (endpoint === "embeddings") return changed;
  const p = entry.profile;
  for (const k of SAMPLING_KEYS) {
    const v = p.sampling?.[k];
    if (v !== undefined && body[k] === undefined) {
      body[k] = v;
      changed = true;
    }
  }
  const limit = p.max_output_tokens;
  if (limit !== undefined) {
    for (const k of ["max_tokens", "max_completion_tokens"]) {
      const v = body[k];
      if (typeof v === "number" && v > limit) {
        body[k] = limit;
        changed = true;
      }
    }
    if (body.max_tokens === undefined && body.max_completion_tokens === undefined) {
      body.max_tokens = limit;
      changed = true;
    }
  }
  return changed;
}
