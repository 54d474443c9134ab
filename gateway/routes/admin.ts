/**
 * The operator API behind `cortex status`, `load`, `unload` and `pull`:
 * the fleet as the gateway sees it, and lifecycle actions with progress.
 */

import { z } from "zod";
import { HttpError } from "../../core/errors.ts";
import { parseOpenAIBody } from "../../core/openai/mod.ts";
import { formatSseJson } from "../../core/sse.ts";
import type { Status } from "../../core/gateway/schemas.ts";
import type { Gateway } from "./common.ts";
import { parseJsonBody, readBody } from "./common.ts";

export function status(gw: Gateway): Response {
  const neurons = gw.fleet.neurons.map((n) => ({
    name: n.client.name,
    endpoint: n.client.target.endpoint,
    up: n.up,
    last_seen: n.lastOk || null,
    last_error: n.lastError,
    version: n.version,
    devices: n.devices,
    models: n.models
      .filter((m) => m.state !== "available")
      .map((m) => ({
        id: m.id,
        state: m.state,
        device: m.device,
        memory_bytes: m.memory_bytes,
        split: m.split ?? null,
        in_flight: m.in_flight,
        queued: m.queued,
        progress: m.progress,
        error: m.error,
        gateway_in_flight: gw.usage.inFlight(n.client.name, m.id),
        last_used: gw.usage.lastUsed(n.client.name, m.id) || m.last_used,
        tokens_per_second: gw.usage.speed(m.id),
        speculation: m.speculation ?? null,
      })),
    load_cycles: gw.lifecycle.cycles.get(n.client.name) ?? 0,
  }));
  const body: Status = {
    neurons,
    catalogue: gw.catalogue.list().map((e) => ({
      id: e.id,
      aliases: e.aliases,
      declared: e.declared,
      loaded_on: e.loadedOn,
      available_on: e.storedOn,
      tokens_per_second: gw.usage.speed(e.id),
    })),
  };
  return Response.json(body);
}

const LoadBody = z.strictObject({
  model: z.string().min(1),
  node: z.string().min(1).optional(),
  stream: z.boolean().optional(),
});

function sse(run: (send: (event: string, data: unknown) => void) => Promise<void>): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(c) {
      const send = (event: string, data: unknown) => {
        try {
          c.enqueue(enc.encode(formatSseJson(data, event)));
        } catch {
          // client gone; the action carries on
        }
      };
      try {
        await run(send);
      } catch (e) {
        const err = e instanceof HttpError ? e : new HttpError(500, (e as Error).message);
        send("error", { status: err.status, error: { message: err.message, code: err.code } });
      }
      try {
        c.close();
      } catch { /* already closed */ }
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}

export async function load(gw: Gateway, req: Request): Promise<Response> {
  const b = parseOpenAIBody(LoadBody, parseJsonBody(await readBody(req, gw.options.maxBodyBytes)));
  const entry = gw.catalogue.resolve(b.model);
  if (!entry) {
    throw new HttpError(404, `model ${b.model} is not in the catalogue`, {
      param: "model",
      code: "model_not_found",
    });
  }
  // Tells `cortex load` whether anything was loaded or the model was already there.
  const already = b.node ? entry.loadedOn.includes(b.node) : entry.loadedOn.length > 0;
  const done = async (onProgress?: (f: number) => void) => {
    const t0 = performance.now();
    const neuron = await gw.lifecycle.load(entry, b.node, onProgress);
    return {
      model: entry.id,
      node: neuron.client.name,
      seconds: (performance.now() - t0) / 1000,
      already,
    };
  };
  if (!b.stream) return Response.json(await done());
  return sse(async (send) => {
    const result = await done((f) => send("progress", { model: entry.id, progress: f }));
    send("done", result);
  });
}

const UnloadBody = z.strictObject({ model: z.string().min(1), node: z.string().min(1).optional() });

export async function unload(gw: Gateway, req: Request): Promise<Response> {
  const b = parseOpenAIBody(
    UnloadBody,
    parseJsonBody(await readBody(req, gw.options.maxBodyBytes)),
  );
  const id = gw.catalogue.resolve(b.model)?.id ?? b.model;
  const nodes = await gw.lifecycle.unload(id, b.node);
  return Response.json({ model: id, unloaded_from: nodes });
}

const PullBody = z.strictObject({
  source: z.string().min(1),
  node: z.string().min(1).optional(),
  stream: z.boolean().optional(),
});

/** Relays a pull to one neuron (the named one, or the first up). */
export async function pull(gw: Gateway, req: Request): Promise<Response> {
  const b = parseOpenAIBody(PullBody, parseJsonBody(await readBody(req, gw.options.maxBodyBytes)));
  const neuron = b.node ? gw.fleet.get(b.node) : gw.fleet.neurons.find((n) => n.up);
  if (!neuron) {
    throw new HttpError(
      b.node ? 404 : 503,
      b.node ? `no neuron named ${b.node}` : "no neuron is up",
      {
        param: b.node ? "node" : null,
      },
    );
  }
  let res: Response;
  try {
    res = await neuron.client.post(
      "/models/pull",
      { source: b.source, stream: b.stream ?? false },
      req.signal,
    );
  } catch (e) {
    throw new HttpError(502, `${neuron.client.name} unreachable: ${(e as Error).message}`);
  }
  // A finished pull changes the store: refresh so the catalogue sees it.
  if (!b.stream) {
    const text = await res.text();
    await gw.fleet.refresh(neuron.client.name);
    gw.catalogue.rebuild();
    return new Response(text, {
      status: res.status,
      headers: { "content-type": "application/json", "x-cortex-node": neuron.client.name },
    });
  }
  const reader = res.body!.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      const { value, done } = await reader.read();
      if (done) {
        await gw.fleet.refresh(neuron.client.name);
        gw.catalogue.rebuild();
        c.close();
        return;
      }
      c.enqueue(value);
    },
    cancel: () => reader.cancel(),
  });
  return new Response(body, {
    status: res.status,
    headers: {
      "content-type": res.headers.get("content-type") ?? "text/event-stream",
      "x-cortex-node": neuron.client.name,
    },
  });
}
