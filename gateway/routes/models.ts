/**
 * `GET /v1/models`: the merged catalogue in OpenAI's list shape (or
 * Anthropic's when the client speaks it), with cortex's extra fields.
 */

import { HttpError } from "../../core/errors.ts";
import type { CatalogueEntry } from "../catalogue.ts";
import type { Gateway } from "./common.ts";

const CREATED = Math.floor(Date.now() / 1000);

/**
 * The limits in force for a request: the context a neuron gives each request (as loaded, or
 * what a load would get), the longest prompt it takes (one token must follow), and the most
 * it may generate (a models.toml cap, else whatever room the context leaves).
 */
export function limits(e: CatalogueEntry) {
  const ctx = e.contextLength;
  const room = ctx === null ? null : ctx - 1;
  const cap = e.profile.max_output_tokens ?? null;
  return {
    context_length: ctx,
    max_input_tokens: room,
    max_output_tokens: cap === null ? room : room === null ? cap : Math.min(cap, room),
  };
}

function describe(gw: Gateway, e: CatalogueEntry) {
  return {
    id: e.id,
    object: "model" as const,
    created: CREATED,
    owned_by: "cortex",
    aliases: e.aliases,
    ...limits(e),
    state: e.loadedOn.length ? "loaded" : "available",
    loaded_on: e.loadedOn,
    available_on: e.storedOn,
    residency_priority: e.profile.residency_priority,
    tokens_per_second: gw.usage.speed(e.id),
  };
}

export function listModels(gw: Gateway, req: Request): Response {
  const entries = gw.catalogue.list();
  if (req.headers.has("anthropic-version")) {
    const data = entries.map((e) => {
      const l = limits(e);
      return {
        type: "model",
        id: e.id,
        display_name: e.id,
        created_at: new Date(CREATED * 1000).toISOString(),
        // Anthropic's own names for the limits: input tokens and `max_tokens`.
        max_input_tokens: l.max_input_tokens,
        max_tokens: l.max_output_tokens,
        context_length: l.context_length,
      };
    });
    return Response.json({
      data,
      has_more: false,
      first_id: data[0]?.id ?? null,
      last_id: data[data.length - 1]?.id ?? null,
    });
  }
  const data = [];
  for (const e of entries) {
    data.push(describe(gw, e));
    for (const a of e.aliases) data.push({ ...describe(gw, e), id: a, alias_of: e.id });
  }
  return Response.json({ object: "list", data });
}

export function getModel(gw: Gateway, id: string): Response {
  const e = gw.catalogue.resolve(id);
  if (!e) {
    throw new HttpError(404, `model ${id} does not exist here`, {
      param: "model",
      code: "model_not_found",
    });
  }
  return Response.json({ ...describe(gw, e), id, ...(id !== e.id ? { alias_of: e.id } : {}) });
}
