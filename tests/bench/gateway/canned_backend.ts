/**
 * A stand-in neuron for measuring pure proxy cost: `/health` and `/models` report one loaded
 * model (so the gateway's poller routes to it), `/v1/chat/completions` answers from canned
 * bytes — a JSON completion, or an SSE stream of `chunks` content events `delayMs` apart
 * (fewer when the request's `max_tokens` is smaller),
 * shaped like a neuron's (role, content, finish, usage, `[DONE]`). Everything on the wire is
 * encoded once at start, so the backend costs the same for every peer in front of it.
 *
 * Run as its own process: `deno run --allow-net canned_backend.ts --chunks 500 --delay-ms 20`
 * prints `canned backend listening on <url>`.
 */

import type { Health, NeuronModel } from "../../../core/neuron/schemas.ts";
import { neuronModel } from "../../helpers/neuron_model.ts";

export interface CannedOptions {
  /** The model id the backend serves. */
  model: string;
  /** Content events per stream (after the role event, before the finish event). */
  chunks: number;
  /** Pause between content events; the first content event goes out with the headers. */
  delayMs: number;
}

export const CANNED_DEFAULTS: CannedOptions = { model: "canned", chunks: 500, delayMs: 20 };

const MiB = 1024 * 1024;

function modelRecord(model: string): NeuronModel {
  return neuronModel({
    id: model,
    slots: 64,
    kv_bytes_per_token: 16 * 1024,
    loaded_at: Date.now(),
  });
}

/** What `/health` answers: one CPU device, the model loaded on it. */
export function cannedHealth(model: string, startedAt: number): Health {
  return {
    status: "ok",
    name: "canned",
    version: "0.0.0-bench",
    uptime_s: (Date.now() - startedAt) / 1000,
    devices: [{
      name: "CPU",
      description: "bench stand-in",
      type: "cpu",
      state: "ok",
      error: null,
      memory_total_bytes: 16 * 1024 * MiB,
      memory_free_bytes: 15 * 1024 * MiB,
      memory_budget_bytes: null,
      memory_used_bytes: 1024 * MiB,
      temperature_c: null,
      utilization_percent: null,
    }],
    models: [modelRecord(model)],
  };
}

const USAGE = { prompt_tokens: 12, total_tokens: 0, completion_tokens: 0 };

/** The canned bytes: one JSON completion, and the frames of one stream. */
export function cannedBodies(opts: CannedOptions) {
  const enc = new TextEncoder();
  const usage = {
    ...USAGE,
    completion_tokens: opts.chunks,
    total_tokens: USAGE.prompt_tokens + opts.chunks,
  };
  const created = Math.floor(Date.now() / 1000);
  const whole = enc.encode(JSON.stringify({
    id: "chatcmpl-canned",
    object: "chat.completion",
    created,
    model: opts.model,
    choices: [{
      index: 0,
      message: { role: "assistant", content: " tok".repeat(opts.chunks) },
      finish_reason: "length",
      logprobs: null,
    }],
    usage,
  }));
  const frame = (delta: unknown, finish: string | null = null) =>
    enc.encode(
      `data: ${
        JSON.stringify({
          id: "chatcmpl-canned",
          object: "chat.completion.chunk",
          created,
          model: opts.model,
          choices: [{ index: 0, delta, finish_reason: finish }],
        })
      }\n\n`,
    );
  return {
    whole,
    role: frame({ role: "assistant", content: "" }),
    content: frame({ content: " tok" }),
    finish: frame({}, "length"),
    /** The usage comment of a stream of `chunks` content events. */
    usageComment: (chunks: number) =>
      enc.encode(`: usage ${
        JSON.stringify({
          ...USAGE,
          completion_tokens: chunks,
          total_tokens: USAGE.prompt_tokens + chunks,
        })
      }\n\n`),
    done: enc.encode("data: [DONE]\n\n"),
  };
}

/**
 * One timer for every open stream. An LLM server emits a token for each sequence of its batch
 * at every decode step, so all streams tick together; and one shared timer keeps 1,024 streams
 * cheap for the backend, which must cost the same behind every peer. It runs only while a
 * stream is open.
 */
export class Ticker {
  readonly #streams = new Set<() => void>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly ms: number) {}

  get size(): number {
    return this.#streams.size;
  }

  add(tick: () => void): void {
    this.#streams.add(tick);
    this.#timer ??= setInterval(() => {
      for (const t of this.#streams) t();
    }, this.ms);
  }

  delete(tick: () => void): void {
    this.#streams.delete(tick);
    if (this.#streams.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/**
 * A stream of `chunks` content events: the role event and the first content event with the
 * headers, then one content event per tick; the last one goes with the finish event, the usage
 * comment (when the gateway asks for usage) and `[DONE]`.
 */
function streamBody(
  frames: ReturnType<typeof cannedBodies>,
  opts: CannedOptions,
  chunks: number,
  withUsage: boolean,
  ticker: Ticker,
): ReadableStream<Uint8Array> {
  let sent = 0;
  const tick = () => {
    try {
      if (sent < chunks) {
        sent++;
        controller.enqueue(frames.content);
      }
      if (sent >= chunks) {
        controller.enqueue(frames.finish);
        if (withUsage) controller.enqueue(frames.usageComment(chunks));
        controller.enqueue(frames.done);
        controller.close();
        ticker.delete(tick);
      }
    } catch {
      // The client left: the stream is closed already.
      ticker.delete(tick);
    }
  };
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      c.enqueue(frames.role);
      if (opts.delayMs <= 0) {
        do tick(); while (sent < chunks);
        return;
      }
      tick();
      if (sent < chunks) ticker.add(tick);
    },
    cancel() {
      ticker.delete(tick);
    },
  }, { highWaterMark: 0 });
}

/** The backend's request handler. */
export function cannedHandler(opts: CannedOptions): (req: Request) => Promise<Response> {
  const startedAt = Date.now();
  const frames = cannedBodies(opts);
  const ticker = new Ticker(opts.delayMs);
  const sse = { "content-type": "text/event-stream", "cache-control": "no-cache" };
  // Usage in a header, as the neuron sends it, so the gateway does its token accounting.
  const json = {
    "content-type": "application/json",
    "x-cortex-usage": `prompt=${USAGE.prompt_tokens};completion=${opts.chunks};ttft_ms=0.1`,
  };
  return async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path === "/health") {
      return Response.json(cannedHealth(opts.model, startedAt));
    }
    if (req.method === "GET" && path === "/models") {
      return Response.json({ models: [modelRecord(opts.model)] });
    }
    if (req.method === "POST" && path === "/v1/chat/completions") {
      // Parsing the body is the least any neuron does; it also tells a stream from a call.
      let body: { model?: unknown; stream?: unknown; max_tokens?: unknown };
      try {
        body = await req.json();
      } catch {
        return Response.json({ error: { message: "body is not JSON" } }, { status: 400 });
      }
      if (body.model !== opts.model) {
        return Response.json({ error: { message: `no model ${body.model}` } }, { status: 404 });
      }
      if (body.stream === true) {
        const withUsage = req.headers.has("x-cortex-usage");
        // A smaller max_tokens shortens the stream (the bench's late arrivals ask for that).
        const max = body.max_tokens;
        const chunks = Number.isInteger(max) && (max as number) > 0
          ? Math.min(opts.chunks, max as number)
          : opts.chunks;
        return new Response(streamBody(frames, opts, chunks, withUsage, ticker), {
          headers: sse,
        });
      }
      return new Response(frames.whole, { headers: json });
    }
    return Response.json({ error: { message: `no route ${req.method} ${path}` } }, {
      status: 404,
    });
  };
}

function parseArgs(args: string[]): CannedOptions & { port: number } {
  const out = { ...CANNED_DEFAULTS, port: 0 };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    const n = Number(value);
    if (flag === "--model" && value) out.model = value;
    else if (flag === "--chunks" && Number.isInteger(n) && n >= 0) out.chunks = n;
    else if (flag === "--delay-ms" && n >= 0) out.delayMs = n;
    else if (flag === "--port" && Number.isInteger(n) && n >= 0) out.port = n;
    else throw new Error(`canned backend: bad flag ${flag} ${value ?? ""}`);
  }
  return out;
}

if (import.meta.main) {
  const opts = parseArgs(Deno.args);
  Deno.serve({
    hostname: "127.0.0.1",
    port: opts.port,
    onListen: (a) => console.log(`canned backend listening on http://127.0.0.1:${a.port}`),
  }, cannedHandler(opts));
}
