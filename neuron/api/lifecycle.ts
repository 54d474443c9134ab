/** `POST /models/load` and `POST /models/unload`. */

import { HttpError } from "../../core/errors.ts";
import { LoadRequestSchema, UnloadRequestSchema } from "../../core/neuron/schemas.ts";
import { parseOpenAIBody } from "../../core/openai/mod.ts";
import { formatSseJson } from "../../core/sse.ts";
import { LoadError } from "../engine/device_worker.ts";
import { EngineError } from "../engine/types.ts";
import { LoadRefusedError, type Neuron } from "../node.ts";
import { engineHttpError, json } from "../server/http.ts";

/** Turns a failed load into the HTTP error the caller sees, numbers included. */
export function loadHttpError(e: unknown): HttpError {
  if (e instanceof LoadRefusedError) {
    const code = e.status === 507
      ? "insufficient_memory"
      : e.status === 404
      ? "model_not_found"
      : "load_refused";
    return new HttpError(e.status, e.message, {
      code,
      param: e.param ?? (e.status === 404 ? "source" : null),
      cause: e.details,
    });
  }
  if (e instanceof LoadError) {
    return e.code === "load_cancelled"
      ? new HttpError(409, e.message, { code: "load_cancelled" })
      : new HttpError(422, e.message, { code: "load_failed", param: e.param ?? null });
  }
  if (e instanceof EngineError) return engineHttpError(e);
  return new HttpError(500, (e as Error).message ?? String(e));
}

export async function loadModel(neuron: Neuron, body: unknown): Promise<Response> {
  const r = parseOpenAIBody(LoadRequestSchema, body);
  if (!r.stream) {
    try {
      const rec = await neuron.load(r);
      return json({ model: neuron.describe(rec) });
    } catch (e) {
      throw loadHttpError(e);
    }
  }
  // Streamed: progress events while tensors load, then the outcome.
  const enc = new TextEncoder();
  let send: (s: string) => void = () => {};
  let last = -1;
  const body$ = new ReadableStream<Uint8Array>({
    start(c) {
      send = (s) => {
        try {
          c.enqueue(enc.encode(s));
        } catch {
          // client gone: the load carries on, its result is in /models
        }
      };
      neuron.load(r, (f) => {
        const pct = Math.floor(f * 100);
        if (pct === last) return;
        last = pct;
        send(formatSseJson({ model: r.model, progress: f }, "progress"));
      }).then(
        (rec) => send(formatSseJson({ model: neuron.describe(rec) }, "done")),
        (e) => {
          const h = loadHttpError(e);
          send(
            formatSseJson(
              { status: h.status, error: { message: h.message, code: h.code } },
              "error",
            ),
          );
        },
      ).finally(() => {
        try {
          c.close();
        } catch {
          // already closed
        }
      });
    },
  });
  return new Response(body$, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}

export async function unloadModel(neuron: Neuron, body: unknown): Promise<Response> {
  const r = parseOpenAIBody(UnloadRequestSchema, body);
  try {
    await neuron.unload(r.model);
  } catch (e) {
    if (e instanceof EngineError) throw engineHttpError(e);
    throw e;
  }
  return json({ model: r.model, state: "available" });
}
