/** Read-only node endpoints: version, health, discovery, models. */

import { HttpError } from "../../core/errors.ts";
import {
  type Discovery,
  type Health,
  type ModelShow,
  ShowRequestSchema,
  type Version,
} from "../../core/neuron/schemas.ts";
import { parseOpenAIBody } from "../../core/openai/mod.ts";
import type { Neuron } from "../node.ts";
import { json } from "../server/http.ts";

export const NEURON_VERSION = "0.1.0";

export function version(neuron: Neuron): Response {
  const body: Version = {
    name: "neuron",
    version: NEURON_VERSION,
    llama_cpp: neuron.engine.lib.version,
    deno: Deno.version.deno,
  };
  return json(body);
}

export async function health(neuron: Neuron): Promise<Response> {
  const devices = await neuron.devices();
  const body: Health = {
    status: devices.every((d) => d.state === "ok") ? "ok" : "degraded",
    name: neuron.settings.name,
    version: NEURON_VERSION,
    uptime_s: Math.round((Date.now() - neuron.startedAt) / 1000),
    devices,
    models: neuron.records().map((r) => neuron.describe(r)),
  };
  return json(body);
}

export async function discovery(neuron: Neuron): Promise<Response> {
  const lib = neuron.engine.lib;
  const body: Discovery = {
    devices: await neuron.devices(),
    library: {
      dir: lib.dir,
      version: lib.version,
      system_info: lib.systemInfo,
      origin: lib.origin.kind,
      variant: lib.origin.variant ?? lib.origin.package,
      backends: lib.backends,
    },
    capabilities: {
      chat: true,
      completions: true,
      embeddings: true,
      tools: true,
      grammar: true,
      reasoning: true,
    },
  };
  return json(body);
}

export async function listModels(neuron: Neuron): Promise<Response> {
  return json({ models: await neuron.models() });
}

/** `POST /models/show`: a model as listed, with its chat template's text. */
export async function showModel(neuron: Neuron, body: unknown): Promise<Response> {
  const { model } = parseOpenAIBody(ShowRequestSchema, body);
  const found = await neuron.show(model);
  if (!found) {
    throw new HttpError(404, `model ${model} is neither loaded nor in the model store`, {
      code: "model_not_found",
      param: "model",
    });
  }
  const answer: ModelShow = { model: found.model, chat_template: found.chatTemplate };
  return json(answer);
}

/** The OpenAI `/v1/models` view: loaded models only. */
export function openaiModels(neuron: Neuron): Response {
  return json({
    object: "list",
    data: neuron.loadedRecords().map((r) => ({
      id: r.key,
      object: "model",
      created: Math.floor((r.loadedAt ?? Date.now()) / 1000),
      owned_by: neuron.settings.name,
      // The limits in force: context per request, the longest prompt (one token must
      // follow), the most a request may generate, and what the model was trained for.
      context_length: r.info?.context ?? null,
      max_input_tokens: r.info ? r.info.context - 1 : null,
      max_output_tokens: r.info ? r.info.context - 1 : null,
      trained_context_length: r.summary.contextLength,
      kv_cache_type: r.kvCacheType,
    })),
  });
}
