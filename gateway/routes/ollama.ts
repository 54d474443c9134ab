/**
 * The Ollama API on the gateway's API listener, translated to the neuron's OpenAI dialect
 * (core/ollama/) and sent the way `/v1/messages` is (completeOnce / streamTranslated).
 * `/api/chat` and `/api/generate` always stream from the neuron, so the counters of the
 * final answer come from the gateway's own clock: `load_duration` until a neuron holds
 * the model (routing, queue, cold load), `prompt_eval_duration` until the first token,
 * `eval_duration` the rest.
 */

import { createHash } from "node:crypto";
import {
  ChatRequestSchema,
  type Durations,
  EmbeddingsRequestSchema,
  EmbedRequestSchema,
  encodeNdjson,
  expiresAt,
  GenerateRequestSchema,
  ollamaChatToOpenAI,
  ollamaDetails,
  ollamaGenerateToOpenAI,
  ollamaNdjsonFromOpenAI,
  type OllamaShape,
  OllamaStreamTranslator,
  parametersText,
  parseKeepAlive,
  parseOllama,
} from "../../core/ollama/mod.ts";
import { HttpError } from "../../core/errors.ts";
import { createLogger } from "../../core/log.ts";
import type { EmbeddingResponse } from "../../core/openai/mod.ts";
import type { NeuronModel } from "../../core/neuron/schemas.ts";
import { conversationKey } from "../affinity.ts";
import { type CatalogueEntry, sourceMatches } from "../catalogue.ts";
import type { NeuronState } from "../fleet.ts";
import { idleExpiry } from "../placement.ts";
import { applyProfile, type Gateway, parseJsonBody, readBody, resolveModel } from "./common.ts";
import { limits } from "./models.ts";
import { RequestContext } from "./openai.ts";
import { sendOnce, streamTranslated } from "./translated.ts";

const log = createLogger("gateway.ollama");
const NS = 1e6; // per millisecond
/** The Ollama version clients see: new enough for `think`, tools and `format` schemas. */
const OLLAMA_VERSION = "0.12.0";

/** A name as Ollama clients send it: `model` or `model:latest` both name `model`. */
function resolve(gw: Gateway, model: unknown): CatalogueEntry {
  if (typeof model === "string" && model.endsWith(":latest") && !gw.catalogue.resolve(model)) {
    return resolveModel(gw, model.slice(0, -":latest".length), "ollama");
  }
  return resolveModel(gw, model, "ollama");
}

async function body(gw: Gateway, req: Request): Promise<Record<string, unknown>> {
  return parseJsonBody(await readBody(req, gw.options.maxBodyBytes));
}

/**
 * A request context that notes when a neuron took the request, and gives the model there
 * the request's `keep_alive` (ms; 0 is an unload after the request instead).
 */
function context(
  gw: Gateway,
  req: Request,
  entry: CatalogueEntry,
  t0: number,
  chat: boolean,
  keepAlive: number | undefined,
) {
  const ctx = new RequestContext(gw, entry, chat ? "chat" : "embeddings", t0, req);
  const routed = ctx.routed;
  const at = { routed: t0 };
  ctx.routed = (neuron) => {
    at.routed = performance.now();
    if (keepAlive) gw.usage.setKeepAlive(neuron.client.name, entry.id, keepAlive);
    routed(neuron);
  };
  return { ctx, at };
}

async function unloadAfter(gw: Gateway, id: string): Promise<void> {
  try {
    await gw.lifecycle.unload(id);
  } catch (e) {
    log.warn("keep_alive 0: unload failed", { model: id, error: (e as Error).message });
  }
}

/** `POST /api/chat` and `POST /api/generate`. */
export async function generate(gw: Gateway, req: Request, shape: OllamaShape): Promise<Response> {
  const t0 = performance.now();
  const raw = await body(gw, req);
  const chat = shape === "chat" ? parseOllama(ChatRequestSchema, raw) : null;
  const gen = chat ? null : parseOllama(GenerateRequestSchema, raw);
  const oreq = (chat ?? gen)!;
  const entry = resolve(gw, oreq.model);
  const keepAlive = parseKeepAlive(oreq.keep_alive);
  const unload = keepAlive === 0;
  const empty = chat ? !chat.messages.length : !gen!.prompt;
  if (empty) {
    // Nothing to say: Ollama's preload (`ollama run` sends this first) loads the model, and
    // `ollama stop` (keep_alive 0) unloads it.
    if (unload) await unloadAfter(gw, entry.id);
    else {
      const { neuron } = await gw.lifecycle.acquire(entry, undefined, undefined, req.signal);
      // A request that begins and ends here: its reservation taken, its last use now.
      gw.usage.begin(neuron.client.name, entry.id)();
      if (keepAlive) gw.usage.setKeepAlive(neuron.client.name, entry.id, keepAlive);
    }
    return Response.json({
      model: oreq.model,
      created_at: new Date().toISOString(),
      ...(shape === "chat" ? { message: { role: "assistant", content: "" } } : { response: "" }),
      done: true,
      done_reason: unload ? "unload" : "load",
    });
  }
  const opts = { contextLength: limits(entry).context_length };
  const request = chat ? ollamaChatToOpenAI(chat, opts) : ollamaGenerateToOpenAI(gen!, opts);
  const stream = oreq.stream ?? true;
  // The neuron always streams: the first token's time is what the counters need.
  request.stream = true;
  request.stream_options = { include_usage: true };
  const chatBody = request as unknown as Record<string, unknown>;
  applyProfile(chatBody, entry, "chat");
  const { ctx, at } = context(gw, req, entry, t0, true, keepAlive);
  if (shape === "chat") ctx.conversation = () => conversationKey(req.headers, chatBody);
  const durations = (first: number | null): Durations => {
    const now = performance.now();
    const firstAt = first ?? now;
    return {
      total_duration: (now - t0) * NS,
      load_duration: (at.routed - t0) * NS,
      prompt_eval_duration: Math.max(0, firstAt - at.routed) * NS,
      eval_duration: Math.max(0, now - firstAt) * NS,
    };
  };
  const t = new OllamaStreamTranslator({
    shape,
    model: oreq.model,
    thinking: oreq.think !== false,
    durations,
  });
  const res = await streamTranslated(gw, req, ctx, entry, JSON.stringify(chatBody), {
    open: () => new Uint8Array(0),
    // NDJSON has no comment line Ollama clients skip: nothing is sent while a load runs.
    keepalive: () => new Uint8Array(0),
    keepaliveMs: 60_000,
    fail: (err) => encodeNdjson(t.fail(err.message)),
    translate: (upstream) => ollamaNdjsonFromOpenAI(upstream, t),
    complete: () => t.complete,
    onEnd: unload && stream ? () => void unloadAfter(gw, entry.id) : undefined,
  });
  if (stream) {
    return new Response(res.body, {
      headers: { "content-type": "application/x-ndjson", "cache-control": "no-cache" },
    });
  }
  const whole = await gather(await res.text(), shape);
  if (unload) await unloadAfter(gw, entry.id);
  return Response.json(whole);
}

/** The streamed lines as one answer (what `stream: false` returns). */
function gather(text: string, shape: OllamaShape): Record<string, unknown> {
  let content = "";
  let thinking = "";
  const calls: unknown[] = [];
  let last: Record<string, unknown> | null = null;
  for (const l of text.split("\n")) {
    if (!l) continue;
    const obj = JSON.parse(l) as Record<string, unknown>;
    if (typeof obj.error === "string") throw new HttpError(502, obj.error);
    const piece = (shape === "chat" ? obj.message : obj) as Record<string, unknown>;
    content += (shape === "chat" ? piece.content : piece.response) ?? "";
    thinking += piece.thinking ?? "";
    calls.push(...(piece.tool_calls as unknown[] ?? []));
    last = obj;
  }
  if (!last?.done) {
    throw new HttpError(502, "upstream stream ended before the response was complete");
  }
  if (shape === "generate") {
    return { ...last, response: content, ...(thinking ? { thinking } : {}) };
  }
  const message: Record<string, unknown> = { role: "assistant", content };
  if (thinking) message.thinking = thinking;
  if (calls.length) message.tool_calls = calls;
  return { ...last, message };
}

/**
 * `POST /api/embed` (`old`: the older `/api/embeddings`, one `prompt`, one `embedding`).
 * `truncate` (Ollama's default: true) cuts an input longer than the embedding context in
 * force on the neuron, which tokenizes; `truncate: false` refuses it in Ollama's words.
 */
export async function embed(gw: Gateway, req: Request, old = false): Promise<Response> {
  const t0 = performance.now();
  const raw = await body(gw, req);
  const older = old ? parseOllama(EmbeddingsRequestSchema, raw) : null;
  const newer = older ? null : parseOllama(EmbedRequestSchema, raw);
  const oreq = (older ?? newer)!;
  const entry = resolve(gw, oreq.model);
  const keepAlive = parseKeepAlive(oreq.keep_alive);
  const payload: Record<string, unknown> = {
    model: oreq.model,
    input: older ? older.prompt : newer!.input,
  };
  if (newer) payload.truncate = newer.truncate ?? true;
  if (newer?.dimensions) payload.dimensions = newer.dimensions;
  applyProfile(payload, entry, "embeddings");
  const { ctx, at } = context(gw, req, entry, t0, false, keepAlive);
  let res: Response;
  try {
    res = await sendOnce(gw, req, ctx, entry, "/v1/embeddings", JSON.stringify(payload));
  } catch (e) {
    if (e instanceof HttpError && e.code === "context_length_exceeded") {
      throw new HttpError(400, `input length exceeds maximum context length: ${e.message}`, {
        param: older ? "prompt" : "input",
        code: e.code,
      });
    }
    throw e;
  }
  const out = await res.json() as EmbeddingResponse;
  const prompt = out.usage?.prompt_tokens ?? 0;
  ctx.end(200, { promptTokens: prompt, completionTokens: 0 });
  if (keepAlive === 0) await unloadAfter(gw, entry.id);
  const vectors = out.data.sort((a, b) => a.index - b.index).map((d) => d.embedding as number[]);
  if (old) return Response.json({ embedding: vectors[0] ?? [] });
  const now = performance.now();
  return Response.json({
    model: oreq.model,
    embeddings: vectors,
    total_duration: Math.round((now - t0) * NS),
    load_duration: Math.round((at.routed - t0) * NS),
    prompt_eval_count: prompt,
  });
}

interface Holder {
  neuron: NeuronState;
  /** As that neuron lists it: the loaded model, or the store file it could load. */
  m: NeuronModel;
}

/** The neurons that hold a model: loaded ones first, then those whose store has its file. */
function holders(gw: Gateway, e: CatalogueEntry): Holder[] {
  const loaded: Holder[] = [];
  const stored: Holder[] = [];
  for (const neuron of gw.fleet.neurons) {
    if (!neuron.up) continue;
    for (const m of neuron.models) {
      if (m.state === "loaded" && m.id === e.id) loaded.push({ neuron, m });
      else if (m.state === "available" && sourceMatches(e.profile.source, m.source)) {
        stored.push({ neuron, m });
      }
    }
  }
  return [...loaded, ...stored];
}

/** A stable digest for a name: Ollama clients key models on it. */
function digest(id: string): string {
  return createHash("sha256").update(id).digest("hex");
}

function tagOf(e: CatalogueEntry, name: string, m: NeuronModel | undefined) {
  return {
    name,
    model: name,
    modified_at: new Date(m?.loaded_at ?? Date.now()).toISOString(),
    size: m?.size_bytes ?? 0,
    digest: digest(e.id),
    details: ollamaDetails(m, m?.source ?? e.id),
  };
}

/** `GET /api/tags`: the catalogue, aliases included. */
export function tags(gw: Gateway): Response {
  const models = [];
  for (const e of gw.catalogue.list()) {
    const m = holders(gw, e)[0]?.m;
    for (const name of [e.id, ...e.aliases]) models.push(tagOf(e, name, m));
  }
  return Response.json({ models });
}

/** `POST /api/show`: the chat template, parameters, capabilities and the context in force. */
export async function show(gw: Gateway, req: Request): Promise<Response> {
  const raw = await body(gw, req);
  const name = raw.model ?? raw.name;
  const e = resolve(gw, name);
  const held = holders(gw, e)[0];
  const m = held?.m;
  // The template's text is asked for here only: it stays out of the polled listing.
  let template = "";
  if (held) {
    try {
      template = (await held.neuron.client.show(held.m.id, req.signal)).chat_template ?? "";
    } catch (err) {
      log.warn("no chat template from the neuron", {
        model: e.id,
        neuron: held.neuron.client.name,
        error: (err as Error).message,
      });
    }
  }
  const capabilities: string[] = [];
  if (m?.chat_template ?? true) capabilities.push("completion");
  if (m?.tool_format) capabilities.push("tools");
  if (m?.reasoning) capabilities.push("thinking");
  if (m?.embeddings || e.profile.embeddings) capabilities.push("embedding");
  const ctx = limits(e).context_length;
  const arch = m?.architecture ?? "unknown";
  return Response.json({
    modelfile: "",
    parameters: parametersText({ num_ctx: ctx, ...e.profile.sampling }),
    template,
    details: ollamaDetails(m, m?.source ?? e.id),
    // Clients size prompts by `<general.architecture>.context_length`: the context in force.
    model_info: {
      "general.architecture": arch,
      ...(m?.parameter_count !== undefined ? { "general.parameter_count": m.parameter_count } : {}),
      ...(ctx !== null ? { [`${arch}.context_length`]: ctx } : {}),
    },
    capabilities,
    modified_at: new Date(m?.loaded_at ?? Date.now()).toISOString(),
  });
}

/** `GET /api/ps`: what is loaded, where, and until when (the gateway's idle unload). */
export function ps(gw: Gateway): Response {
  const now = Date.now();
  const residents = gw.lifecycle.residents();
  const models = [];
  for (const e of gw.catalogue.list()) {
    for (const { neuron, m } of holders(gw, e)) {
      if (m.state !== "loaded") continue;
      const node = neuron.client.name;
      const due = idleExpiry(node, m, residents, now, gw.options.idleTtlMs ?? 0);
      models.push({
        ...tagOf(e, e.id, m),
        size: m.memory_bytes ?? m.size_bytes,
        size_vram: m.device && !/^cpu/i.test(m.device) ? m.memory_bytes ?? m.size_bytes : 0,
        context_length: m.context,
        expires_at: expiresAt(due, now),
        node,
        device: m.device,
      });
    }
  }
  return Response.json({ models });
}

export function version(): Response {
  return Response.json({ version: OLLAMA_VERSION });
}

/** Model management Ollama clients may try: cortex's store is managed with `cortex pull`. */
export function unsupported(path: string): never {
  const what = path.slice("/api/".length);
  throw new HttpError(
    501,
    `${what} is not available through the Ollama API here: models live in the neurons' stores; ` +
      "use `cortex pull <hf:repo[:quant]>` (or POST /cortex/pull) and models.toml instead",
    { code: "not_implemented" },
  );
}
