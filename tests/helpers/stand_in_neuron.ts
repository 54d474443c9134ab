/**
 * A stand-in neuron on loopback for tests of the gateway's front: it reports one loaded
 * model, records the headers of each proxied request, and answers a chat stream that
 * behaves as a request header asks: `x-stand-in: silent` (three events, then nothing),
 * `x-stand-in: die` (three events, then the connection breaks), `x-stand-in: split` (each
 * event written in two halves, apart), otherwise `events` content events `gapMs` apart
 * and a clean end.
 */

import { parseCortexConfig, parseModelsConfig } from "../../core/config/mod.ts";
import type { Health } from "../../core/neuron/schemas.ts";
import { type RunningGateway, serveGateway } from "../../gateway/serve.ts";
import { neuronModel } from "./neuron_model.ts";

const enc = new TextEncoder();
const GiB = 1024 ** 3;

function health(model: string): Health {
  return {
    status: "ok",
    name: "stand-in",
    version: "0.0.0-test",
    uptime_s: 1,
    devices: [{
      name: "CPU",
      description: "stand-in",
      type: "cpu",
      state: "ok",
      error: null,
      memory_total_bytes: 16 * GiB,
      memory_free_bytes: 15 * GiB,
      memory_budget_bytes: null,
      memory_used_bytes: GiB,
      temperature_c: null,
      utilization_percent: null,
    }],
    models: [neuronModel({ id: model, slots: 8 })],
  };
}

function chunk(model: string, delta: unknown, finish: string | null = null): Uint8Array {
  const c = {
    id: "chatcmpl-stand-in",
    object: "chat.completion.chunk",
    created: 0,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
  return enc.encode(`data: ${JSON.stringify(c)}\n\n`);
}

function ending(events: number): Uint8Array[] {
  return [
    enc.encode(`: usage {"prompt_tokens":3,"completion_tokens":${events}}\n\n`),
    enc.encode("data: [DONE]\n\n"),
  ];
}

/**
 * The same stream as a clean one, but every event cut in two in the middle, the halves
 * written 5 ms apart: the reader at the other end gets each event across two reads.
 */
function splitEvents(model: string, events: number): Response {
  const parts = [
    chunk(model, { role: "assistant", content: "" }),
    ...Array.from({ length: events }, (_, i) => chunk(model, { content: ` t${i + 1}` })),
    chunk(model, {}, "stop"),
    ...ending(events),
  ].flatMap((p) => [p.slice(0, p.length >> 1), p.slice(p.length >> 1)]);
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (i === parts.length) return c.close();
      if (i > 0) await new Promise((r) => setTimeout(r, 5));
      c.enqueue(parts[i++]);
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}

export interface StandIn {
  url: string;
  /** While true, `/health` and `/models` take 3 s to answer (a poll times out first). */
  slowPolls: boolean;
  /** While true, `/health` answers 500 (`/models` still answers). */
  healthFails: boolean;
  /** Headers of every proxied request, in order. */
  seen: Headers[];
  /** Streams the gateway cancelled (its client left, or it gave up). */
  cancelled: number;
  close(): Promise<void>;
}

export function serveStandIn(opts: { model: string; events?: number; gapMs?: number }): StandIn {
  const { model, events = 20, gapMs = 5 } = opts;
  const state = { seen: [] as Headers[], cancelled: 0, slowPolls: false, healthFails: false };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if ((path === "/health" || path === "/models") && state.slowPolls) {
      await new Promise((r) => setTimeout(r, 3000));
    }
    if (path === "/health") {
      return state.healthFails
        ? Response.json({ error: { message: "devices unreadable" } }, { status: 500 })
        : Response.json(health(model));
    }
    if (path === "/models") return Response.json({ models: health(model).models });
    state.seen.push(new Headers(req.headers)); // a copy: the request is gone once it ends
    const mode = req.headers.get("x-stand-in");
    if (mode === "split") return splitEvents(model, events);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(chunk(model, { role: "assistant", content: "" }));
      },
      pull(c) {
        if (mode === "die" && sent === 3) {
          // A gap after the last event, as a crash comes after a write: an HTTP/2 reset
          // discards frames still queued behind it.
          return new Promise<void>((resolve) => {
            timer = setTimeout(() => {
              c.error(new Error("the stand-in breaks its connection"));
              resolve();
            }, gapMs);
          });
        }
        if (mode && sent === 3) return new Promise(() => {}); // silent: never another byte
        if (sent === events) {
          c.enqueue(chunk(model, {}, "stop"));
          for (const e of ending(events)) c.enqueue(e);
          return c.close();
        }
        return new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            sent++;
            c.enqueue(chunk(model, { content: ` t${sent}` }));
            resolve();
          }, gapMs);
        });
      },
      cancel() {
        clearTimeout(timer);
        state.cancelled++;
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get seen() {
      return state.seen;
    },
    get cancelled() {
      return state.cancelled;
    },
    get slowPolls() {
      return state.slowPolls;
    },
    set slowPolls(v: boolean) {
      state.slowPolls = v;
    },
    get healthFails() {
      return state.healthFails;
    },
    set healthFails(v: boolean) {
      state.healthFails = v;
    },
    close: () => server.shutdown(),
  };
}

/**
 * A gateway in this process in front of stand-ins (name → stand-in), on free loopback
 * ports; `gateway` and `auth` are extra lines for those tables of cortex.toml.
 */
export async function gatewayOver(
  neurons: Record<string, { url: string }>,
  extra: { gateway?: string; auth?: string } = {},
): Promise<RunningGateway> {
  const tables = Object.entries(neurons)
    .map(([name, n]) => `[[neurons]]\nname = "${name}"\nendpoint = "${n.url}"\n`)
    .join("\n");
  return await serveGateway(
    parseCortexConfig(
      `[gateway]\nlisten = "127.0.0.1:0"\nmetrics_listen = "127.0.0.1:0"\n${
        extra.gateway ?? ""
      }\n` +
        `[auth]\n${extra.auth ?? ""}\n\n${tables}`,
    ),
    parseModelsConfig(""),
  );
}
